"""The entrypoint in the built image: mode dispatch, bad input, and the flags it hands to claude."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.image

SUCCESS = json.dumps({"type": "result", "subtype": "success", "is_error": False, "result": "ok", "session_id": "s"})
RW_MOUNTS = ("--tmpfs", "/home/agent/.claude:uid=10000,gid=10000", "--tmpfs", "/workspace:uid=10000,gid=10000")


def shim_record(stderr: str) -> dict:
    """Parse what the recording stand-in printed: argv, cwd and selected env."""
    return {
        "argv": re.findall(r"^SHIM-ARG: (.*)$", stderr, re.M),
        "cwd": re.search(r"^SHIM-CWD: (.*)$", stderr, re.M).group(1),
        "env": dict(line.split("=", 1) for line in re.findall(r"^SHIM-ENV: (.*)$", stderr, re.M)),
    }


def run_mode(docker, image, shim_options, *env: str, tty: bool = False, extra: tuple[str, ...] = ()):
    options = [*shim_options, *RW_MOUNTS, "--read-only", "--tmpfs", "/tmp"]
    for item in env:
        options += ["-e", item]
    if tty:
        options.append("-t")
    return docker.run(image, *extra, options=tuple(options))


def test_interactive_execs_claude_in_workspace(docker, built_image, shim_options):
    result = run_mode(docker, built_image, shim_options, "ANTHROPIC_API_KEY=sk-test", tty=True, extra=("--model", "x"))
    assert result.returncode == 0, result.stdout + result.stderr
    # -t merges the container's stderr into stdout.
    record = shim_record(result.stdout)
    assert record["argv"] == ["--model", "x"]
    assert record["cwd"] == "/workspace"
    assert record["env"]["DISABLE_TELEMETRY"] == "1"
    assert record["env"]["CLAUDE_CONFIG_DIR"] == "/home/agent/.claude"


def test_headless_passes_prompt_and_json_output(docker, built_image, shim_options):
    result = run_mode(
        docker, built_image, shim_options, "CLAUDE_MODE=headless", "CLAUDE_PROMPT=list pods",
        "CLAUDE_CODE_OAUTH_TOKEN=tok", f"SHIM_JSON={SUCCESS}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert shim_record(result.stderr)["argv"] == ["-p", "list pods", "--output-format", "json"]
    assert json.loads(result.stdout)["result"] == "ok"


def test_remote_control_uses_login_not_token(docker, built_image, shim_options):
    volume = docker.volume()
    seed = docker.run(
        built_image, "-c", "echo '{\"claudeAiOauth\":{}}' > /home/agent/.claude/.credentials.json",
        options=("--entrypoint", "bash", "-v", f"{volume}:/home/agent/.claude"),
    )  # fmt: skip
    assert seed.returncode == 0, seed.stderr
    result = docker.run(
        built_image,
        options=(*shim_options, "-t", "-v", f"{volume}:/home/agent/.claude", "-e", "CLAUDE_MODE=remote-control",
                 "-e", "CLAUDE_CODE_OAUTH_TOKEN=tok"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout
    record = shim_record(result.stdout)
    assert record["argv"] == ["remote-control", "--spawn", "same-dir"]
    # Telemetry-off variables and the token make Claude Code refuse Remote Control.
    assert "DISABLE_TELEMETRY" not in record["env"]
    assert "CLAUDE_CODE_OAUTH_TOKEN" not in record["env"]


def test_flags_exist_in_the_pinned_cli(docker, built_image):
    """Every flag the entrypoint passes is in the real binary's help (catches a CLI rename)."""
    help_main = docker.run(built_image, "--help", options=("--entrypoint", "claude")).stdout
    help_rc = docker.run(built_image, "remote-control", "--help", options=("--entrypoint", "claude")).stdout
    for flag in ("-p", "--output-format", "--print"):
        assert re.search(rf"(^|\s|,){re.escape(flag)}[\s,]", help_main), flag
    assert "--spawn <mode>" in help_rc
    assert "same-dir" in help_rc


@pytest.mark.parametrize(
    ("env", "tty", "code", "message"),
    [
        (("CLAUDE_MODE=debug",), False, 64, "unknown CLAUDE_MODE 'debug'"),
        (("CLAUDE_MODE=headless", "ANTHROPIC_API_KEY=k"), False, 64, "needs a prompt: set CLAUDE_PROMPT"),
        (("CLAUDE_MODE=headless", "CLAUDE_PROMPT=hi"), False, 78, "claude setup-token"),
        (("CLAUDE_MODE=remote-control",), True, 78, "Run /login"),
        (("CLAUDE_MODE=remote-control", "DISABLE_TELEMETRY=1"), True, 78, "while DISABLE_TELEMETRY is set"),
        (("CLAUDE_MODE=interactive",), False, 64, "needs a terminal"),
        (("CLAUDE_MODE=headless", "CLAUDE_PROMPT=hi", "ANTHROPIC_API_KEY=k", "ANTHROPIC_API_KEY_FILE=/etc/hostname"),
         False, 78, "set only one of them"),
    ],
    ids=["unknown-mode", "headless-no-prompt", "headless-no-credentials", "remote-control-no-login",
         "remote-control-telemetry-off", "interactive-no-tty", "key-and-key-file"],
)  # fmt: skip
def test_bad_input_fails_with_actionable_message(docker, built_image, shim_options, env, tty, code, message):
    result = run_mode(docker, built_image, shim_options, *env, tty=tty)
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert message in output
    assert "SHIM-CWD" not in output, "claude must not start"


def test_unwritable_volume_is_reported_with_owner(docker, built_image, shim_options, tmp_path):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)  # owned by root: the agent (10000) cannot write
    result = docker.run(built_image, options=(*shim_options, "-t", "-v", f"{state}:/home/agent/.claude"))
    assert result.returncode == 73, result.stdout
    assert "the state volume /home/agent/.claude is not writable by uid 10000" in result.stdout
    assert "owned by 0:0 mode 755" in result.stdout
    assert "fsGroup: 10000" in result.stdout


def test_read_only_root_without_tmp_mount_is_reported(docker, built_image, shim_options):
    result = docker.run(
        built_image,
        options=(*shim_options, "-t", "--read-only", "--tmpfs", "/home/agent/.claude:uid=10000,gid=10000"),
    )
    assert result.returncode == 73, result.stdout
    assert "mount an emptyDir (Kubernetes) or tmpfs (Docker) at /tmp" in result.stdout


@pytest.mark.parametrize(
    ("shim_exit", "payload", "expected_code", "message"),
    [
        (0, {"subtype": "error_max_turns", "is_error": True, "result": ""}, 1, "subtype=error_max_turns"),
        (0, {"subtype": "success", "is_error": True, "result": "Invalid API key"}, 1, "authentication failed"),
        (3, {"subtype": "success", "is_error": True, "result": "API Error: 401"}, 3, "claude setup-token"),
    ],
    ids=["exit0-but-failed", "auth-error-exit0", "auth-error-keeps-status"],
)
def test_headless_failures_exit_nonzero(docker, built_image, shim_options, shim_exit, payload, expected_code, message):
    result = run_mode(
        docker, built_image, shim_options, "CLAUDE_MODE=headless", "CLAUDE_PROMPT=x", "ANTHROPIC_API_KEY=k",
        f"SHIM_JSON={json.dumps({'type': 'result', **payload})}", f"SHIM_EXIT={shim_exit}",
    )  # fmt: skip
    assert result.returncode == expected_code, result.stderr
    assert message in result.stderr
    assert json.loads(result.stdout)["is_error"] is True  # Claude's JSON still reaches stdout
