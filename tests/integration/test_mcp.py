"""The Kubernetes MCP server inside the pod (INT-01): Claude Code sees it connected, and it reads the
cluster with the pod's in-cluster credentials, Secrets refused."""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
from collections.abc import Iterator

import pytest

from ciab import REPO_ROOT

pytestmark = pytest.mark.integration


def test_claude_sees_the_server_connected(readonly_agent):
    """`claude mcp list` in the workspace, as the agent starts it (project .mcp.json, managed approval)."""
    result = readonly_agent.exec("claude", "mcp", "list", check=False, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^kubernetes: .*\bConnected\b", result.stdout, re.MULTILINE), result.stdout


class McpSession:
    """JSON-RPC over stdio with the server as mcp.json starts it, through `kubectl exec --stdin`."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, method: str, params: dict | None = None, *, notify: bool = False) -> int | None:
        message: dict = {"jsonrpc": "2.0", "method": method, "params": params or {}}
        if not notify:
            self.next_id += 1
            message["id"] = self.next_id
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return message.get("id")

    def request(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        request_id = self.send(method, params)
        while True:
            try:
                message = json.loads(self.lines.get(timeout=timeout))
            except queue.Empty:
                raise AssertionError(f"no answer to {method} within {timeout}s") from None
            if message.get("id") == request_id:
                assert "error" not in message, message
                return message["result"]

    def call(self, tool: str, **arguments) -> tuple[bool, str]:
        result = self.request("tools/call", {"name": tool, "arguments": arguments})
        text = "\n".join(part.get("text", "") for part in result.get("content", []))
        return bool(result.get("isError")), text

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def mcp(readonly_agent) -> Iterator[McpSession]:
    server = json.loads((REPO_ROOT / "mcp/mcp.json").read_text())["mcpServers"]["kubernetes"]
    session = McpSession(readonly_agent.exec_argv(server["command"], *server["args"], stdin=True))
    info = session.request(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "ciab-it", "version": "0"}},
    )
    assert info["serverInfo"]["name"] == "kubernetes-mcp-server"
    session.send("notifications/initialized", notify=True)
    yield session
    session.close()


def test_mcp_server_reads_the_cluster_in_cluster(mcp, readonly_agent):
    failed, text = mcp.call("pods_list_in_namespace", namespace=readonly_agent.namespace)
    assert not failed, text
    assert readonly_agent.pod in text
    failed, text = mcp.call("namespaces_list")
    assert not failed, text
    assert "kube-system" in text


def test_mcp_server_refuses_secrets(mcp, readonly_agent):
    failed, text = mcp.call("resources_list", apiVersion="v1", kind="Secret", namespace=readonly_agent.namespace)
    assert failed, f"listing Secrets must fail, got: {text}"


def test_mcp_server_is_read_only(mcp):
    tools = {tool["name"] for tool in mcp.request("tools/list")["tools"]}
    expected = {
        line.split()[0]
        for line in (REPO_ROOT / "mcp/tools.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert tools == expected
