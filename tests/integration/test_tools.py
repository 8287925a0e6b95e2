"""The toolkit inside the running pod: every tool works as the agent user under the restricted PSS."""

from __future__ import annotations

import re

import pytest

from ciab import REPO_ROOT

pytestmark = pytest.mark.integration


def tools_list() -> list[str]:
    lines = (REPO_ROOT / "docker/tools.list").read_text().splitlines()
    return [line.split()[0] for line in lines if line.strip() and not line.startswith("#")]


def test_verify_tools_passes_in_the_pod(readonly_agent):
    result = readonly_agent.exec("verify-tools", check=False, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    expected = tools_list()
    summary = re.search(r"^(\d+) tools, (\d+) ok, (\d+) failed \(uid (\d+)\)$", result.stdout, re.MULTILINE)
    assert summary, result.stdout
    assert summary.groups() == (str(len(expected)), str(len(expected)), "0", "10000")
    statuses = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:-1] if line.strip()}
    assert statuses == dict.fromkeys(expected, "ok")


def test_runs_as_the_agent_user_on_a_read_only_root(readonly_agent):
    assert readonly_agent.exec("id", "-u").stdout.strip() == "10000"
    assert readonly_agent.exec("id", "-g").stdout.strip() == "10000"
    assert readonly_agent.exec("touch", "/usr/local/bin/ciab-write-test", check=False).returncode != 0
    for writable in ("/home/agent/.claude", "/tmp", "/workspace"):
        readonly_agent.sh(f'f=$(mktemp -p {writable}) && rm -f "$f"')


def test_pid_1_is_tini(readonly_agent):
    assert readonly_agent.exec("cat", "/proc/1/comm").stdout.strip() == "tini"
