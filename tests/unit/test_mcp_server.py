"""mcp/: the real kubernetes-mcp-server started exactly as mcp/mcp.json says, and the real Claude CLI.

No cluster: the server gets a throwaway kubeconfig pointing at 127.0.0.1 (it starts without
reaching it), or a stand-in API server where a test needs answers.
"""

from __future__ import annotations

import json
import tomllib

import pytest
from support.fake_api import FakeApi, Request
from support.mcp_client import (
    IMAGE_MCP_DIR,
    IMAGE_SERVER,
    MCP_DIR,
    StdioMcpClient,
    claude_env,
    claude_session_init,
    documented_tools,
    host_mcp_config,
    mcp_server_config,
    offline_kubeconfig,
    readme_tools,
)

from ciab import REPO_ROOT

pytestmark = pytest.mark.unit

# Tools that must never be offered, whatever the server version adds around them: they print the
# kubeconfig, read Helm releases (stored in Secrets), change the cluster or reach the kubelet.
FORBIDDEN_TOOLS = {
    "configuration_view",
    "configuration_contexts_list",
    "helm_list",
    "helm_install",
    "helm_uninstall",
    "nodes_log",
    "nodes_stats_summary",
    "pods_delete",
    "pods_exec",
    "pods_run",
    "resources_create_or_update",
    "resources_delete",
    "resources_scale",
}


def server_command(mcp_server_bin) -> list[str]:
    server = host_mcp_config(mcp_server_bin)["mcpServers"]["kubernetes"]
    return [server["command"], *server["args"]]


@pytest.fixture
def server_env(tmp_path) -> dict[str, str]:
    """The server's environment outside a pod: a kubeconfig for a cluster that is not there."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(offline_kubeconfig(tmp_path / "kc"))}


@pytest.fixture
def exposed_tools(mcp_server_bin, server_env) -> list[dict]:
    with StdioMcpClient(server_command(mcp_server_bin), env=server_env) as client:
        info = client.handshake()
        assert info["serverInfo"]["name"] == "kubernetes-mcp-server"
        assert info["serverInfo"]["version"] == "v0.0.66"
        return client.tools()


def test_mcp_json_runs_the_image_binary_read_only():
    server = mcp_server_config()
    assert server["type"] == "stdio"
    assert server["command"] == IMAGE_SERVER
    args = server["args"]
    assert "--read-only" in args
    config = args[args.index("--config") + 1]
    assert config.startswith(IMAGE_MCP_DIR)
    assert (MCP_DIR / config.removeprefix(IMAGE_MCP_DIR)).is_file()
    # Nothing that would widen the server: no other toolsets, no HTTP port, no fixed provider.
    assert not any(arg.startswith(("--toolsets", "--port", "--cluster-provider", "--kubeconfig")) for arg in args)


def test_server_config_is_read_only_core_without_secrets():
    args = mcp_server_config()["args"]
    config_file = MCP_DIR / args[args.index("--config") + 1].removeprefix(IMAGE_MCP_DIR)
    config = tomllib.loads(config_file.read_text())
    assert config["read_only"] is True
    assert config["toolsets"] == ["core"]
    assert {"group": "", "version": "v1", "kind": "Secret"} in config["denied_resources"]
    # The provider is auto-detected: in-cluster in a pod, the kubeconfig elsewhere.
    assert "cluster_provider_strategy" not in config
    assert "kubeconfig" not in config


def test_handshake_exposes_exactly_the_documented_tools(exposed_tools, repo_root):
    names = [tool["name"] for tool in exposed_tools]
    assert sorted(names) == sorted(documented_tools()), "update mcp/tools.txt (and README.md) to match"
    assert sorted(readme_tools(repo_root / "README.md")) == sorted(documented_tools()), "README.md drifted"


def test_every_exposed_tool_is_read_only(exposed_tools):
    for tool in exposed_tools:
        annotations = tool.get("annotations", {})
        assert annotations.get("readOnlyHint") is True, tool["name"]
        assert annotations.get("destructiveHint") is not True, tool["name"]


def test_no_config_secret_or_write_tools(exposed_tools):
    names = {tool["name"] for tool in exposed_tools}
    assert not names & FORBIDDEN_TOOLS
    assert not [name for name in names if name.startswith(("configuration_", "helm_")) or "secret" in name]


def _discovery(request: Request) -> tuple[int, object]:
    """Just enough of an API server for the server's discovery, and objects that must not leak."""
    lists = {
        "/api/v1/namespaces/default/configmaps": {"kind": "ConfigMapList", "apiVersion": "v1", "items": []},
        "/api/v1/namespaces/default/secrets": {"kind": "SecretList", "apiVersion": "v1", "items": []},
    }
    discovery = {
        "/api": {"kind": "APIVersions", "versions": ["v1"]},
        "/apis": {
            "kind": "APIGroupList",
            "groups": [
                {
                    "name": "rbac.authorization.k8s.io",
                    "versions": [{"groupVersion": "rbac.authorization.k8s.io/v1", "version": "v1"}],
                    "preferredVersion": {"groupVersion": "rbac.authorization.k8s.io/v1", "version": "v1"},
                }
            ],
        },
        "/api/v1": {
            "kind": "APIResourceList",
            "groupVersion": "v1",
            "resources": [
                {"name": "secrets", "namespaced": True, "kind": "Secret", "verbs": ["get", "list"]},
                {"name": "configmaps", "namespaced": True, "kind": "ConfigMap", "verbs": ["get", "list"]},
            ],
        },
        "/apis/rbac.authorization.k8s.io/v1": {
            "kind": "APIResourceList",
            "groupVersion": "rbac.authorization.k8s.io/v1",
            "resources": [{"name": "clusterroles", "namespaced": False, "kind": "ClusterRole", "verbs": ["list"]}],
        },
    }
    body = discovery.get(request.path) or lists.get(request.path)
    return (200, body) if body else (404, {"kind": "Status", "code": 404})


def test_secrets_and_rbac_are_refused_before_reaching_the_api(mcp_server_bin, tmp_path):
    with FakeApi(_discovery) as api:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        env["KUBECONFIG"] = str(offline_kubeconfig(tmp_path / "kc", server=api.url))
        with StdioMcpClient(server_command(mcp_server_bin), env=env) as client:
            client.handshake()
            allowed = client.call("resources_list", {"apiVersion": "v1", "kind": "ConfigMap", "namespace": "default"})
            secret = client.call("resources_list", {"apiVersion": "v1", "kind": "Secret", "namespace": "default"})
            one = client.call(
                "resources_get", {"apiVersion": "v1", "kind": "Secret", "namespace": "default", "name": "x"}
            )
            rbac = client.call("resources_list", {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole"})
    paths = [request.path for request in api.requests]
    # The control: an allowed kind does reach the stand-in API server.
    assert not allowed.get("isError"), allowed
    assert "/api/v1/namespaces/default/configmaps" in paths
    for refused in (secret, one, rbac):
        assert refused.get("isError") is True
        assert "resource not allowed" in json.dumps(refused["content"])
    assert not [path for path in paths if "secrets" in path or "clusterroles" in path]


def test_claude_connects_the_project_server_approved_by_policy(claude_bin, mcp_server_bin, tmp_path):
    """What the image does: mcp.json as the workspace's .mcp.json, approved by the image's managed
    settings (passed here with --settings, below managed in precedence): no approval prompt."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / ".mcp.json").write_text(json.dumps(host_mcp_config(mcp_server_bin)))
    env = claude_env(tmp_path / "home", KUBECONFIG=str(offline_kubeconfig(tmp_path / "kc")))
    policy = REPO_ROOT / "docker" / "managed-settings.json"
    init = claude_session_init([str(claude_bin)], workspace, env, "--settings", str(policy))
    assert {"name": "kubernetes", "status": "connected"} in [
        {key: server[key] for key in ("name", "status")} for server in init["mcp_servers"]
    ]
    mcp_tools = sorted(tool.removeprefix("mcp__kubernetes__") for tool in init["tools"] if tool.startswith("mcp__"))
    assert mcp_tools == sorted(documented_tools())
