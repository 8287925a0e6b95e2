"""NetworkPolicy, enforced by Calico: DNS and the API server reachable, everything else in the
cluster not, and nothing reaches the agent.

A probe namespace runs a TCP server (with a Service) and an unrestricted client, both from the
agent's image (already in the nodes). Every denial is paired with a control that succeeds, so a
test cannot pass because the server was down.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest
import yaml

pytestmark = pytest.mark.integration

PROBE_NS = "ciab-netpol-probe"
PORT = 8080
SERVICE = f"probe-server.{PROBE_NS}.svc.cluster.local"


def probe_pod(name: str, image: str, command: list[str], **extra) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": PROBE_NS, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "probe", "image": image, "imagePullPolicy": "IfNotPresent", "command": command, **extra}
            ],
        },
    }


@pytest.fixture(scope="module")
def probe(kube, agent_image) -> Iterator[dict]:
    """Server and client pods in their own namespace; returns {"server_ip": ...}."""
    documents = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": PROBE_NS}},
        probe_pod(
            "probe-server",
            agent_image,
            ["socat", f"TCP-LISTEN:{PORT},fork,reuseaddr", "SYSTEM:echo ciab-probe"],
            readinessProbe={"tcpSocket": {"port": PORT}, "periodSeconds": 2},
        ),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "probe-server", "namespace": PROBE_NS},
            "spec": {"selector": {"app": "probe-server"}, "ports": [{"port": PORT, "targetPort": PORT}]},
        },
        probe_pod("probe-client", agent_image, ["sleep", "infinity"]),
    ]
    try:
        kube("apply", "--filename=-", input=yaml.safe_dump_all(documents))
        kube("wait", "--for=condition=Ready", "pod", "--all", "--namespace", PROBE_NS, "--timeout=180s", timeout=210)
        server = kube.json("get", "pod", "probe-server", "--namespace", PROBE_NS)
        yield {"server_ip": server["status"]["podIP"]}
    finally:
        kube("delete", "namespace", PROBE_NS, "--ignore-not-found", "--wait=false", check=False)


def connects_from_client(kube, host: str, port: int) -> bool:
    result = kube(
        "exec", "--namespace", PROBE_NS, "probe-client", "--", "nc", "-z", "-w", "5", host, str(port), check=False
    )
    return result.returncode == 0


def connects_from_agent(agent, host: str, port: int) -> bool:
    return agent.exec("nc", "-z", "-w", "5", host, str(port), check=False).returncode == 0


def test_dns_is_allowed(readonly_agent):
    result = readonly_agent.exec("dig", "+short", "+time=3", "+tries=2", "kubernetes.default.svc.cluster.local")
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", result.stdout.strip()), result.stdout


def test_api_server_is_allowed(readonly_agent, kube):
    version = json.loads(readonly_agent.exec("kubectl", "get", "--raw", "/version").stdout)
    assert version["gitVersion"] == kube.json("version")["serverVersion"]["gitVersion"]


def test_egress_to_an_in_cluster_service_is_denied(readonly_agent, kube, probe):
    assert connects_from_client(kube, SERVICE, PORT), "control: the probe server must answer an unrestricted pod"
    assert not connects_from_agent(readonly_agent, SERVICE, PORT)


def test_egress_to_a_pod_ip_is_denied(readonly_agent, kube, probe):
    assert connects_from_client(kube, probe["server_ip"], PORT), "control: the probe pod must answer"
    assert not connects_from_agent(readonly_agent, probe["server_ip"], PORT)


def test_ingress_to_the_agent_is_denied(readonly_agent, kube, probe):
    listener = readonly_agent.sh(
        "socat TCP-LISTEN:8081,fork,reuseaddr 'SYSTEM:echo agent' </dev/null >/dev/null 2>&1 & echo $!"
    ).stdout.strip()
    try:
        # Control: the listener is up (on every address) as seen from inside the pod.
        deadline = time.monotonic() + 15
        while not connects_from_agent(readonly_agent, "127.0.0.1", 8081):
            assert time.monotonic() < deadline, "control: the listener in the agent did not come up"
            time.sleep(0.5)
        assert not connects_from_client(kube, readonly_agent.ip(), 8081)
    finally:
        readonly_agent.exec("kill", listener, check=False)
