"""RBAC matrix: what the agent's service account may do, per tier, checked by the API server.

`kubectl auth can-i --as=system:serviceaccount:<ns>:<sa>` asks the API server (a
SubjectAccessReview), row by row, in the agent's namespace and in another one (kube-system): the
tiers are cluster-wide. The pod's own token is checked too, from inside the pod.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

READ_VERBS = ("get", "list", "watch")
# Everything the read-only tier reads (K8S-02), as `resource[.group][/subresource]`.
READABLE = (
    "pods",
    "pods/log",
    "services",
    "endpoints",
    "events",
    "configmaps",
    "persistentvolumeclaims",
    "persistentvolumes",
    "nodes",
    "namespaces",
    "deployments.apps",
    "replicasets.apps",
    "statefulsets.apps",
    "daemonsets.apps",
    "jobs.batch",
    "cronjobs.batch",
    "ingresses.networking.k8s.io",
    "networkpolicies.networking.k8s.io",
    "horizontalpodautoscalers.autoscaling",
    "poddisruptionbudgets.policy",
    "endpointslices.discovery.k8s.io",
    "events.events.k8s.io",
    "storageclasses.storage.k8s.io",
)
# (verb, resource, readonly tier allowed, operator tier allowed)
WRITES = (
    # the operator tier's remediation verbs (K8S-05)
    ("delete", "pods", False, True),
    ("create", "pods/exec", False, True),
    ("get", "pods/exec", False, True),
    ("patch", "deployments.apps", False, True),
    ("update", "deployments.apps", False, True),
    ("patch", "statefulsets.apps", False, True),
    ("update", "statefulsets.apps", False, True),
    # never, in any tier
    ("get", "secrets", False, False),
    ("list", "secrets", False, False),
    ("watch", "secrets", False, False),
    ("create", "secrets", False, False),
    ("delete", "secrets", False, False),
    ("create", "pods", False, False),
    ("patch", "pods", False, False),
    ("create", "pods/attach", False, False),
    ("create", "pods/portforward", False, False),
    ("create", "pods/eviction", False, False),
    ("create", "deployments.apps", False, False),
    ("delete", "deployments.apps", False, False),
    ("update", "deployments.apps/scale", False, False),
    ("delete", "statefulsets.apps", False, False),
    ("patch", "daemonsets.apps", False, False),
    ("delete", "jobs.batch", False, False),
    ("patch", "configmaps", False, False),
    ("delete", "persistentvolumeclaims", False, False),
    ("delete", "nodes", False, False),
    ("patch", "nodes", False, False),
    ("get", "nodes/proxy", False, False),
    ("create", "namespaces", False, False),
    ("delete", "namespaces", False, False),
    ("create", "serviceaccounts/token", False, False),
    ("impersonate", "serviceaccounts", False, False),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", False, False),
    ("create", "rolebindings.rbac.authorization.k8s.io", False, False),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", False, False),
    ("bind", "clusterroles.rbac.authorization.k8s.io", False, False),
    ("*", "*", False, False),
)
MATRIX = [(verb, resource, True, True) for resource in READABLE for verb in READ_VERBS] + list(WRITES)
NAMESPACES = ("agent", "kube-system")


def can_i(agent, verb: str, resource: str, namespace: str) -> bool:
    """The API server's answer for the agent's service account (resource[.group][/subresource])."""
    base, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, base, f"--as={agent.service_account}"]
    if subresource:
        args.append(f"--subresource={subresource}")
    args += ["--namespace", agent.namespace if namespace == "agent" else namespace]
    result = agent.kube(*args, check=False)
    answer = result.stdout.strip()
    assert answer.startswith(("yes", "no")), f"kubectl {' '.join(args)}: {result.stdout}{result.stderr}"
    return answer.startswith("yes")


def ids(row) -> str:
    verb, resource, *_ = row
    return f"{verb}-{resource}"


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("row", MATRIX, ids=ids)
def test_readonly_tier(readonly_agent, row, namespace):
    verb, resource, readonly, _ = row
    assert can_i(readonly_agent, verb, resource, namespace) is readonly


@pytest.mark.parametrize("namespace", NAMESPACES)
@pytest.mark.parametrize("row", MATRIX, ids=ids)
def test_operator_tier(operator_agent, row, namespace):
    verb, resource, _, operator = row
    assert can_i(operator_agent, verb, resource, namespace) is operator


def can_i_in_pod(agent, *args: str) -> str:
    """kubectl auth can-i inside the pod: the mounted service-account token, nothing impersonated."""
    return agent.exec("kubectl", "auth", "can-i", *args, check=False).stdout.strip()


def test_pod_token_is_read_only(readonly_agent):
    assert can_i_in_pod(readonly_agent, "list", "pods", "--all-namespaces") == "yes"
    assert can_i_in_pod(readonly_agent, "get", "pods", "--subresource=log", "--namespace", "kube-system") == "yes"
    assert can_i_in_pod(readonly_agent, "delete", "pods") == "no"
    assert can_i_in_pod(readonly_agent, "get", "secrets") == "no"
    assert can_i_in_pod(readonly_agent, "list", "secrets", "--all-namespaces") == "no"


def test_pod_token_reads_the_cluster(readonly_agent):
    pods = readonly_agent.exec("kubectl", "get", "pods", "--all-namespaces", "--output=name").stdout.split()
    assert f"pod/{readonly_agent.pod}" in pods
    forbidden = readonly_agent.exec("kubectl", "get", "secrets", check=False)
    assert forbidden.returncode != 0
    assert "Forbidden" in forbidden.stderr


def test_pod_token_of_the_operator_tier(operator_agent):
    assert can_i_in_pod(operator_agent, "delete", "pods", "--namespace", "kube-system") == "yes"
    assert can_i_in_pod(operator_agent, "patch", "deployments.apps", "--namespace", "default") == "yes"
    assert can_i_in_pod(operator_agent, "get", "secrets") == "no"
    assert can_i_in_pod(operator_agent, "delete", "nodes") == "no"
