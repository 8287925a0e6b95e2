"""The image's lifecycle with the real claude binary: identity, signals, probes, state, upgrades."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import time

import pytest

pytestmark = pytest.mark.image

STATE = "/home/agent/.claude"
# A pod's writable paths: the state volume, /tmp and the workspace; the rest is read-only.
POD_LIKE = ("--read-only", "--tmpfs", "/tmp", "--tmpfs", "/workspace:uid=10000,gid=10000")


def start_agent(docker, image, volume, *env: str, extra: tuple[str, ...] = (), workspace: str | None = None) -> str:
    """Start the real claude in interactive mode (offline, with a TTY) and wait until ready.
    `workspace` names a volume for /workspace instead of the pod-like tmpfs."""
    options = ["--read-only", "--tmpfs", "/tmp", "-t", "-i", "-v", f"{volume}:{STATE}", *extra]
    options += ["-v", f"{workspace}:/workspace"] if workspace else ["--tmpfs", "/workspace:uid=10000,gid=10000"]
    for item in env:
        options += ["-e", item]
    container = docker.start(image, options=tuple(options))
    docker.wait_until(container, ["/usr/local/bin/readiness"], timeout=60)
    return container


def test_verify_tools_passes_as_agent(docker, built_image):
    result = docker.run(built_image, options=("--entrypoint", "verify-tools"))
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines()[1:-1] if line.strip()]
    assert len(rows) >= 30
    assert all(row.split()[1] == "ok" for row in rows), result.stdout
    assert "(uid 10000)" in result.stdout.splitlines()[-1]


def test_verify_tools_fails_when_a_tool_is_missing(docker, built_image):
    script = "printf 'nope nope --version pkg\\njq jq --version jq\\n' > /tmp/t.list && verify-tools /tmp/t.list"
    result = docker.run(built_image, "-c", script, options=("--entrypoint", "bash"))
    assert result.returncode == 1
    assert "MISSING" in result.stdout
    assert "2 tools, 1 ok, 1 failed" in result.stdout


def test_identity_tini_and_probes(docker, built_image):
    container = start_agent(
        docker, built_image, docker.volume(), "ANTHROPIC_API_KEY=sk-test", extra=("--network", "none")
    )
    assert docker("exec", container, "cat", "/proc/1/comm").stdout.strip() == "tini"
    assert docker("exec", container, "id", "-u").stdout.strip() == "10000"
    claude_user = docker("exec", container, "ps", "-C", "claude", "-o", "uid=").stdout.split()
    assert claude_user, "claude is not running"
    assert set(claude_user) == {"10000"}
    assert docker("exec", container, "/usr/local/bin/liveness").returncode == 0
    health = docker("inspect", "--format", "{{json .Config.Healthcheck.Test}}", container).stdout
    assert json.loads(health) == ["CMD", "/usr/local/bin/readiness"]


KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]
contexts: [{name: none, context: {cluster: none, user: none}}]
current-context: none
users: [{name: none, user: {token: unused}}]
"""


def process_table(docker, container) -> dict[str, tuple[int, int]]:
    """comm -> (pid, process group id) for the processes in the container."""
    rows = docker("exec", container, "ps", "-eo", "pid=,pgid=,comm=").stdout.split("\n")
    return {comm: (int(pid), int(pgid)) for pid, pgid, comm in (row.split(None, 2) for row in rows if row.strip())}


def test_sigterm_stops_claude_and_mcp_children_quickly(docker, built_image, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    kubeconfig.chmod(0o644)
    container = start_agent(
        docker, built_image, docker.volume(), "ANTHROPIC_API_KEY=sk-test", "KUBECONFIG=/etc/kubeconfig",
        extra=("--network", "none", "-v", f"{kubeconfig}:/etc/kubeconfig:ro"),
    )  # fmt: skip
    # Claude starts its MCP servers once the session is up (after its settings fetch gives up).
    deadline = time.monotonic() + 90
    while "kubernetes-mcp-" not in (procs := process_table(docker, container)) and time.monotonic() < deadline:
        time.sleep(1)
    assert "kubernetes-mcp-" in procs, procs
    # tini -g signals claude's process group, and the MCP server is in it.
    assert procs["kubernetes-mcp-"][1] == procs["claude"][1]

    start = time.monotonic()
    stopped = docker("stop", "--time", "20", container)
    elapsed = time.monotonic() - start
    assert stopped.returncode == 0
    exit_code = int(docker("inspect", "--format", "{{.State.ExitCode}}", container).stdout)
    # 137 would mean SIGKILL after the grace period: SIGTERM did not reach claude.
    assert exit_code != 137
    assert elapsed < 5, f"docker stop took {elapsed:.1f}s"


def test_readiness_fails_without_claude(docker, built_image):
    result = docker.run(built_image, "-c", "/usr/local/bin/readiness", options=("--entrypoint", "bash"))
    assert result.returncode == 1
    assert "entrypoint has not finished" in result.stderr


def test_state_survives_replacement_and_image_config_is_refreshed(docker, built_image, tmp_path):
    """Run, stop, upgrade the image, run again on the same volumes: the user's state is intact and
    the image-owned config in the workspace (kept on a volume here, so stale copies exist) is new."""
    volume, workspace = docker.volume(), docker.volume()
    user_files = {
        ".credentials.json": '{"claudeAiOauth": {"refreshToken": "r"}}',
        "settings.json": '{"model": "opus", "theme": "dark"}',
        "skills/my-runbook/SKILL.md": "---\nname: my-runbook\ndescription: mine\n---\nmine\n",
        # The user's own MCP server and per-project rules (keys Claude Code keeps, unlike userID).
        ".claude.json": '{"mcpServers": {"mine": {"type": "stdio", "command": "/bin/true"}},'
        ' "projects": {"/workspace": {"allowedTools": ["Bash(ls)"]}}}',
    }
    seed = " && ".join(
        f"mkdir -p $(dirname {STATE}/{path}) && printf '%s' '{content}' > {STATE}/{path}"
        for path, content in user_files.items()
    )
    seeded = docker.run(built_image, "-c", seed, options=("--entrypoint", "bash", "-v", f"{volume}:{STATE}"))
    assert seeded.returncode == 0, seeded.stderr

    docker(
        "stop", start_agent(docker, built_image, volume, "ANTHROPIC_API_KEY=sk-test", workspace=workspace), check=True
    )

    # The "upgrade": same image with a changed bundled skill and MCP config.
    upgraded = f"{built_image}-upgraded"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {built_image}\nUSER 0\n"
        "RUN echo '# upgraded' >> /opt/claude-in-a-box/skills/pod-diagnosis/SKILL.md"
        ' && sed -i \'s/"kubernetes"/"kubernetes", "_upgraded": true/\' /opt/claude-in-a-box/mcp/mcp.json\n'
        "USER 10000:10000\n"
    )
    docker("build", "-t", upgraded, str(tmp_path), check=True, timeout=300)
    try:
        second = start_agent(docker, upgraded, volume, "ANTHROPIC_API_KEY=sk-test", workspace=workspace)
        docker("stop", second, check=True)
    finally:
        docker("rmi", "-f", upgraded)

    # Read both volumes after the agent stopped, so nothing depends on how long Claude runs offline.
    def read(path: str) -> subprocess.CompletedProcess:
        mounts = ("-v", f"{volume}:{STATE}", "-v", f"{workspace}:/workspace", "--entrypoint", "cat")
        return docker.run(built_image, path, options=mounts)

    for path, content in user_files.items():
        if path != ".claude.json":
            assert read(f"{STATE}/{path}").stdout == content, path
    merged = json.loads(read(f"{STATE}/.claude.json").stdout)
    assert merged["mcpServers"] == {"mine": {"type": "stdio", "command": "/bin/true"}}  # the user's keys kept...
    assert merged["projects"]["/workspace"]["allowedTools"] == ["Bash(ls)"]
    assert merged["projects"]["/workspace"]["hasTrustDialogAccepted"] is True  # ...flags merged in
    skill = read("/workspace/.claude/skills/pod-diagnosis/SKILL.md").stdout
    assert skill.rstrip().endswith("# upgraded")  # image-owned config refreshed over the stale copy
    assert "_upgraded" in read("/workspace/.mcp.json").stdout
    assert read("/workspace/.claude/skills/my-runbook/SKILL.md").returncode != 0  # user skills stay user-scope


def test_invalid_claude_json_is_left_untouched(docker, built_image):
    volume = docker.volume()
    broken = '{"mcpServers": {}, '
    seed = f"printf '%s' '{broken}' > {STATE}/.claude.json"
    assert (
        docker.run(built_image, "-c", seed, options=("--entrypoint", "bash", "-v", f"{volume}:{STATE}")).returncode == 0
    )
    container = start_agent(docker, built_image, volume, "ANTHROPIC_API_KEY=sk-test")
    assert "is not valid JSON; leaving it untouched" in docker("logs", container).stdout


class _Unauthorized(http.server.BaseHTTPRequestHandler):
    """Stands in for the Anthropic API: rejects every request as the real API does a bad key."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.dumps({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    do_GET = do_POST

    def log_message(self, *args):
        pass


def test_real_cli_auth_failure_becomes_actionable(docker, built_image):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unauthorized)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = docker.run(
            built_image,
            options=("--network", "host", *POD_LIKE, "--tmpfs", f"{STATE}:uid=10000,gid=10000",
                     "-e", "CLAUDE_MODE=headless", "-e", "CLAUDE_PROMPT=list pods",
                     "-e", "ANTHROPIC_API_KEY=sk-ant-invalid", "-e", "CLAUDE_CODE_MAX_RETRIES=0",
                     "-e", f"ANTHROPIC_BASE_URL=http://127.0.0.1:{server.server_port}"),
            timeout=120,
        )  # fmt: skip
    finally:
        server.shutdown()
    assert result.returncode != 0
    assert json.loads(result.stdout)["is_error"] is True
    assert "authentication failed" in result.stderr
    assert "claude setup-token" in result.stderr
    assert "authentication_error" not in result.stderr  # the raw API error stays in the JSON
