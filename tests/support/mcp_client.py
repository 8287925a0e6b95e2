"""A minimal MCP client over stdio (JSON-RPC, one message per line) and the real Claude CLI's view
of a session, for tests of the intelligence layer. No MCP SDK: the protocol is three messages.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess
import time
from pathlib import Path

from ciab import REPO_ROOT

PROTOCOL_VERSION = "2025-06-18"
# Where the image puts the server binary and this repository's mcp/ directory.
IMAGE_SERVER = "/usr/local/bin/kubernetes-mcp-server"
IMAGE_MCP_DIR = "/opt/claude-in-a-box/mcp/"
MCP_DIR = REPO_ROOT / "mcp"


def mcp_server_config() -> dict:
    return json.loads((MCP_DIR / "mcp.json").read_text())["mcpServers"]["kubernetes"]


def host_mcp_config(server_bin: Path) -> dict:
    """mcp.json with the image paths replaced by the vendored binary and this checkout's mcp/."""
    server = mcp_server_config()
    assert server["command"] == IMAGE_SERVER
    args = [arg.replace(IMAGE_MCP_DIR, f"{MCP_DIR}/") for arg in server["args"]]
    return {"mcpServers": {"kubernetes": {**server, "command": str(server_bin), "args": args}}}


def documented_tools() -> list[str]:
    """mcp/tools.txt: the tools the configuration exposes, as documented."""
    names = []
    for line in (MCP_DIR / "tools.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            names.append(line.split()[0])
    return names


def readme_tools(readme: Path) -> list[str]:
    """Tool names in the MCP table of README.md's intelligence section."""
    text = readme.read_text()
    section = text.split("<!-- section:intelligence:start -->")[1].split("<!-- section:intelligence:end -->")[0]
    mcp_part = section.split("### MCP server")[1].split("\n### ")[0]
    return re.findall(r"^\| `([a-z_]+)` \|", mcp_part, re.MULTILINE)


def offline_kubeconfig(path: Path, server: str = "https://127.0.0.1:1") -> Path:
    """A kubeconfig for a cluster that is not there (or a fake API at `server`)."""
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "test", "cluster": {"server": server}}],
                "users": [{"name": "test", "user": {"token": "test-token"}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "default"}}],
                "current-context": "test",
            }
        )
    )
    return path


class McpError(Exception):
    pass


class StdioMcpClient:
    """Drive an MCP server process over stdin/stdout; use as a context manager."""

    def __init__(self, command: list[str], env: dict[str, str] | None = None, timeout: float = 20) -> None:
        self.command, self.env, self.timeout = command, env, timeout
        self._next_id = 0

    def __enter__(self) -> StdioMcpClient:
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.process.stdout, selectors.EVENT_READ)
        self._buffer = b""
        return self

    def __exit__(self, *exc: object) -> None:
        self._selector.close()
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()

    def _send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def _read_line(self, deadline: float) -> bytes:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._selector.select(remaining):
                raise McpError(f"no answer from {self.command[0]} within {self.timeout}s")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise McpError(f"{self.command[0]} exited: {self.process.stderr.read().decode(errors='replace')}")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def request(self, method: str, params: dict | None = None) -> dict:
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params or {}})
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self._read_line(deadline))
            if message.get("id") == self._next_id:  # skip notifications and server requests
                if "error" in message:
                    raise McpError(f"{method}: {message['error']}")
                return message["result"]

    def notify(self, method: str) -> None:
        self._send({"jsonrpc": "2.0", "method": method})

    def handshake(self) -> dict:
        result = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "ciab-tests", "version": "0"},
            },
        )
        self.notify("notifications/initialized")
        return result

    def tools(self) -> list[dict]:
        tools, cursor = [], None
        while True:
            result = self.request("tools/list", {"cursor": cursor} if cursor else {})
            tools.extend(result["tools"])
            cursor = result.get("nextCursor")
            if not cursor:
                return tools

    def call(self, tool: str, arguments: dict) -> dict:
        return self.request("tools/call", {"name": tool, "arguments": arguments})


def claude_env(home: Path, **extra: str) -> dict[str, str]:
    """Environment for the real Claude CLI on the host: a throwaway home, no network use.

    A dummy API key and an API URL where nothing listens let `claude -p` start a session (it
    prints its init event: MCP servers, tools, skills) without credentials or internet.
    """
    config_dir = home / ".claude"
    config_dir.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(config_dir),
        "ANTHROPIC_API_KEY": "sk-ant-test-not-a-key",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        **extra,
    }


def first_json_line(command: list[str], cwd: Path, env: dict[str, str] | None, timeout: float = 60) -> dict:
    """Start `command`, return the first JSON line it prints on stdout, then stop it."""
    with subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        try:
            selector = selectors.DefaultSelector()
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline, buffer = time.monotonic() + timeout, b""
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise McpError(f"{command[0]} printed no line within {timeout}s")
                chunk = os.read(process.stdout.fileno(), 65536)
                if not chunk:
                    raise McpError(f"{command[0]} exited: {process.stderr.read().decode(errors='replace')[-2000:]}")
                buffer += chunk
            return json.loads(buffer.split(b"\n", 1)[0])
        finally:
            process.kill()
            process.wait()


def claude_session_init(claude: list[str], cwd: Path, env: dict[str, str] | None, *args: str) -> dict:
    """The `system/init` event of a headless session: what Claude Code loaded (MCP, tools, skills)."""
    event = first_json_line(
        [*claude, "-p", "--output-format", "stream-json", "--verbose", *args, "Reply with OK."], cwd, env
    )
    assert event.get("type") == "system"
    assert event.get("subtype") == "init", event
    return event
