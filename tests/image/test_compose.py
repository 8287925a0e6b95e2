"""docker/compose.yaml: valid, and the standalone agent it describes becomes healthy."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

from ciab import REPO_ROOT

pytestmark = pytest.mark.image

COMPOSE_FILE = REPO_ROOT / "docker" / "compose.yaml"


@pytest.fixture(scope="module")
def compose(docker_cli: str) -> list[str]:
    """Compose v2 (`docker compose`) when the client has it, else the standalone docker-compose."""
    if subprocess.run([docker_cli, "compose", "version"], capture_output=True).returncode == 0:
        return [docker_cli, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is None:
        pytest.fail("neither `docker compose` nor docker-compose is installed (apt-get install docker-compose)")
    return [standalone]


@pytest.fixture
def project(compose, built_image, tmp_path):
    env_file = tmp_path / "claude.env"
    # A placeholder key gets past onboarding; nothing here talks to the API.
    env_file.write_text("CLAUDE_MODE=interactive\nANTHROPIC_API_KEY=sk-ant-placeholder\n")
    name = f"ciab-compose-{uuid.uuid4().hex[:8]}"
    env = {"CIAB_IMAGE": built_image, "CIAB_CONTAINER": name, "CLAUDE_ENV_FILE": str(env_file), "PATH": "/usr/bin:/bin"}

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [*compose, "-f", str(COMPOSE_FILE), "-p", name, *args]
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)

    run.container = name
    yield run
    run("down", "--volumes", "--timeout", "5")


def test_compose_config_is_valid_and_hardened(project):
    result = project("config")
    assert result.returncode == 0, result.stderr
    service = yaml.safe_load(result.stdout)["services"]["claude"]
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert service["tty"] is True
    assert service["stdin_open"] is True
    assert any(v.startswith("claude-state:/home/agent/.claude") for v in service["volumes"])
    assert service["healthcheck"]["test"] == ["CMD", "/usr/local/bin/readiness"]


def test_compose_up_becomes_healthy(project, docker_cli):
    result = project("up", "-d")
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 90
    status = None
    while time.monotonic() < deadline:
        inspect = subprocess.run(
            [docker_cli, "inspect", "--format", "{{json .State.Health}}", project.container],
            capture_output=True, text=True,
        )  # fmt: skip
        status = json.loads(inspect.stdout)["Status"] if inspect.returncode == 0 else None
        if status in ("healthy", "unhealthy"):
            break
        time.sleep(2)
    logs = subprocess.run([docker_cli, "logs", project.container], capture_output=True, text=True)
    assert status == "healthy", logs.stdout + logs.stderr
