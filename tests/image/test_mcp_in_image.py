"""The intelligence layer inside the built image, as the agent user on a read-only root filesystem:
the real Claude CLI, started by the entrypoint, connects the MCP server staged from mcp/mcp.json, the server
answers the MCP handshake, the skills' commands exist, and generate-claude-md stays in its bound.

Offline: the kubeconfig points at 127.0.0.1, where nothing answers; the server starts anyway.
"""

from __future__ import annotations

import json
import re

import pytest
from support.mcp_client import (
    StdioMcpClient,
    documented_tools,
    first_json_line,
    mcp_server_config,
)
from support.skills import BASE_COMMANDS, SHELL_LANGUAGES, commands_in, load_skills

from ciab import REPO_ROOT

pytestmark = pytest.mark.image

# The pod's view: read-only root, writable volume, /tmp and workspace, no capabilities.
AGENT_OPTIONS = (
    "--read-only",
    "--tmpfs", "/tmp",
    "--tmpfs", "/home/agent/.claude:uid=10000,gid=10000",
    "--tmpfs", "/workspace:uid=10000,gid=10000",
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
)  # fmt: skip
KUBECONFIG = json.dumps(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "offline", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "offline", "user": {"token": "offline"}}],
        "contexts": [{"name": "offline", "context": {"cluster": "offline", "user": "offline"}}],
        "current-context": "offline",
    }
)
# Writes the kubeconfig from the environment, then runs the command given as arguments.
WITH_KUBECONFIG = 'printf "%s" "$TEST_KUBECONFIG" > /tmp/kubeconfig && export KUBECONFIG=/tmp/kubeconfig && exec "$@"'


def test_claude_connects_the_mcp_server_without_approval(docker, built_image, tmp_path):
    """Through the real entrypoint: it stages mcp.json as /workspace/.mcp.json, and the managed
    policy (enabledMcpjsonServers) approves it, the same in every mode."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    kubeconfig.chmod(0o644)
    name = docker.name()
    docker.containers.append(name)
    command = [
        docker.binary, "run", "--rm", "--name", name, *AGENT_OPTIONS,
        "-v", f"{kubeconfig}:/etc/kubeconfig:ro", "-e", "KUBECONFIG=/etc/kubeconfig",
        # A session without a real key or network: it prints its init event, then fails to connect.
        "-e", "CLAUDE_MODE=headless", "-e", "CLAUDE_PROMPT=Reply with OK.",
        "-e", "ANTHROPIC_API_KEY=sk-ant-test-not-a-key", "-e", "ANTHROPIC_BASE_URL=http://127.0.0.1:9",
        "-e", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "-e", "CLAUDE_CODE_MAX_RETRIES=0",
        # Extra arguments reach claude after the entrypoint's own; the later --output-format wins.
        built_image, "--output-format", "stream-json", "--verbose",
    ]  # fmt: skip
    init = first_json_line(command, cwd=REPO_ROOT, env=None, timeout=90)
    assert init["subtype"] == "init"
    assert init["cwd"] == "/workspace"
    servers = {server["name"]: server["status"] for server in init["mcp_servers"]}
    assert servers == {"kubernetes": "connected"}
    mcp_tools = sorted(tool.removeprefix("mcp__kubernetes__") for tool in init["tools"] if tool.startswith("mcp__"))
    assert mcp_tools == sorted(documented_tools())
    assert {skill.name for skill in load_skills(REPO_ROOT / "skills")} <= set(init["skills"])


def test_mcp_server_handshake_in_image(docker, built_image):
    """The exact command of mcp.json, inside the image: read-only tools only, as documented."""
    server = mcp_server_config()
    name = docker.name()
    docker.containers.append(name)
    command = [
        docker.binary, "run", "-i", "--rm", "--name", name, *AGENT_OPTIONS,
        "-e", f"TEST_KUBECONFIG={KUBECONFIG}", "--entrypoint", "bash", built_image,
        "-c", WITH_KUBECONFIG, "bash", server["command"], *server["args"],
    ]  # fmt: skip
    with StdioMcpClient(command, timeout=60) as client:
        assert client.handshake()["serverInfo"]["version"] == "v0.0.66"
        tools = client.tools()
    assert sorted(tool["name"] for tool in tools) == sorted(documented_tools())
    assert all(tool["annotations"]["readOnlyHint"] is True for tool in tools)


def test_skill_commands_exist_in_image(docker, built_image):
    """Every command the skills run, and every whitelisted base command, is on the agent's PATH."""
    used = {
        command
        for skill in load_skills(REPO_ROOT / "skills")
        for block in skill.code_blocks()
        if block.language in SHELL_LANGUAGES
        for command in commands_in(block.text)
    }
    wanted = sorted(used | BASE_COMMANDS)
    result = docker.run(
        built_image, "-c", 'for c in "$@"; do command -v "$c" >/dev/null || echo "missing: $c"; done', "bash", *wanted,
        options=(*AGENT_OPTIONS, "--entrypoint", "bash"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def _ms(stderr: str) -> int:
    match = re.search(r"generate-claude-md: wrote \S+ \(.*\) in ([0-9]+) ms", stderr)
    assert match, stderr
    return int(match.group(1))


def test_generate_claude_md_standalone_in_image(docker, built_image):
    """No service account (Docker, Compose): the standalone variant, with the image's own lists."""
    result = docker.run(
        built_image, "-c", "generate-claude-md /workspace/CLAUDE.md && cat /workspace/CLAUDE.md",
        options=(*AGENT_OPTIONS, "--entrypoint", "bash"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _ms(result.stderr) < 5000 + 1000
    text = result.stdout
    assert "- Mode: standalone" in text
    assert "- `pods_log`" in text
    for skill in load_skills(REPO_ROOT / "skills"):
        assert f"- `{skill.name}`: " in text
    assert "`kubectl`, `helm`" in text


def test_generate_claude_md_hanging_api_in_image(docker, built_image):
    """An API server that accepts and never answers (nc): bounded by CLAUDE_MD_TIMEOUT."""
    script = (
        "mkdir -p /tmp/sa && printf tok > /tmp/sa/token && printf ns > /tmp/sa/namespace && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=test "
        "-keyout /tmp/sa/key.pem -out /tmp/sa/ca.crt 2>/dev/null && "
        "{ nc -lk 127.0.0.1 6443 >/dev/null & } && "
        "generate-claude-md /workspace/CLAUDE.md && cat /workspace/CLAUDE.md"
    )
    result = docker.run(
        built_image, "-c", script,
        options=(
            *AGENT_OPTIONS, "--entrypoint", "bash",
            "-e", "CIAB_SA_DIR=/tmp/sa", "-e", "CIAB_API_URL=https://127.0.0.1:6443", "-e", "CLAUDE_MD_TIMEOUT=2",
        ),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert _ms(result.stderr) < 2000 + 1000
    assert "- Mode: in-cluster" in result.stdout
    assert "- RBAC tier: unknown (treat as readonly)" in result.stdout
    assert "/version timed out" in result.stdout


def test_claude_mcp_list_in_a_running_agent(docker, built_image, tmp_path):
    """In a started agent (entrypoint staged the workspace), `claude mcp list` as the agent user
    reports the bundled server connected: approved by policy, no prompt."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    kubeconfig.chmod(0o644)
    container = docker.start(
        built_image,
        options=(*AGENT_OPTIONS, "-t", "-i", "--network", "none",
                 "-v", f"{kubeconfig}:/etc/kubeconfig:ro", "-e", "KUBECONFIG=/etc/kubeconfig",
                 "-e", "ANTHROPIC_API_KEY=sk-ant-test-not-a-key"),
    )  # fmt: skip
    docker.wait_until(container, ["/usr/local/bin/readiness"], timeout=60)
    result = docker("exec", "-w", "/workspace", container, "claude", "mcp", "list", timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("kubernetes:")]
    assert line.endswith("Connected"), line
    assert docker("exec", container, "id", "-u").stdout.strip() == "10000"
