"""RBAC of every profile and overlay: read-only tiers write nothing and never see Secrets,
nothing grants a wildcard, the operator tier adds exactly its few writes."""

from __future__ import annotations

import pytest

from .manifests import (
    ALL_SOURCES,
    BINDING_KINDS,
    NAMESPACE,
    OPERATOR,
    READONLY,
    ROLE_KINDS,
    SOURCES,
    of_kind,
    permissions,
    rbac_grants,
    ref,
)

pytestmark = pytest.mark.chart

READ = {"get", "list", "watch"}
SELF_REVIEWS = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
}
CLUSTER_SCOPED = {("", "nodes"), ("", "namespaces"), ("", "persistentvolumes"), ("storage.k8s.io", "storageclasses")}

# The read-only tier (spec K8S-02 and the issue): get/list/watch on these, create on the self reviews.
READER = {
    (group, resource): READ
    for group, resources in {
        "": [
            "pods", "pods/log", "services", "endpoints", "events", "nodes", "namespaces", "configmaps",
            "persistentvolumeclaims", "persistentvolumes",
        ],
        "apps": ["deployments", "replicasets", "statefulsets", "daemonsets"],
        "batch": ["jobs", "cronjobs"],
        "discovery.k8s.io": ["endpointslices"],
        "events.k8s.io": ["events"],
        "networking.k8s.io": ["ingresses", "networkpolicies"],
        "storage.k8s.io": ["storageclasses"],
        "autoscaling": ["horizontalpodautoscalers"],
        "policy": ["poddisruptionbudgets"],
    }.items()
    for resource in resources
} | {review: {"create"} for review in SELF_REVIEWS}  # fmt: skip

# What the operator tier adds (spec K8S-05): delete pods, exec, rollout restart.
OPERATOR_WRITES = {
    ("", "pods"): {"delete"},
    ("", "pods/exec"): {"create", "get"},
    ("apps", "deployments"): {"patch", "update"},
    ("apps", "statefulsets"): {"patch", "update"},
}


def namespaced_only(table: dict) -> dict:
    return {key: verbs for key, verbs in table.items() if key not in CLUSTER_SCOPED | SELF_REVIEWS}


def expected_permissions(source_id: str) -> dict[tuple[str, str], set[str]]:
    source = SOURCES[source_id]
    table = {key: set(verbs) for key, verbs in READER.items()}
    if "namespaced" in source_id:
        table = namespaced_only(table)
    if source.tier == OPERATOR:
        for key, verbs in OPERATOR_WRITES.items():
            table.setdefault(key, set()).update(verbs)
    return table


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: s.id)
def test_permissions_are_exactly_the_tier(source, renders):
    assert permissions(renders(source.id).objects) == expected_permissions(source.id)


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: s.id)
def test_no_wildcards_no_secrets_no_escalation(source, renders):
    objects = renders(source.id).objects
    for role in of_kind(objects, *ROLE_KINDS):
        assert "aggregationRule" not in role, ref(role)
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                assert "*" not in rule.get(field, []), f"{ref(role)} grants * in {field}"
            assert "nonResourceURLs" not in rule, ref(role)
    for where, _, resource, verb in rbac_grants(objects):
        assert resource.split("/")[0] not in {"secrets", "serviceaccounts", "roles", "clusterroles"}, where
        assert verb not in {"escalate", "bind", "impersonate", "deletecollection"}, where


@pytest.mark.parametrize("source", [s for s in ALL_SOURCES if s.tier == READONLY], ids=lambda s: s.id)
def test_readonly_tier_grants_no_write_verb(source, renders):
    writes = [
        (where, group, resource, verb)
        for where, group, resource, verb in rbac_grants(renders(source.id).objects)
        if verb not in READ and not ((group, resource) in SELF_REVIEWS and verb == "create")
    ]
    assert not writes, f"write verbs in a read-only tier: {writes}"


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: s.id)
def test_bindings_tie_own_roles_to_own_service_account(source, renders):
    objects = renders(source.id).objects
    roles = {
        (role["kind"], role["metadata"].get("namespace"), role["metadata"]["name"])
        for role in of_kind(objects, *ROLE_KINDS)
    }
    (account,) = of_kind(objects, "ServiceAccount")
    bindings = of_kind(objects, *BINDING_KINDS)
    assert len(bindings) == len(roles)
    for binding in bindings:
        role_ref = binding["roleRef"]
        namespace = binding["metadata"].get("namespace")  # None for a ClusterRoleBinding
        assert (role_ref["kind"], namespace, role_ref["name"]) in roles, f"{ref(binding)} → {role_ref}: not ours"
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
        ], ref(binding)


@pytest.mark.parametrize("source_id", ["helm-namespaced", "helm-namespaced-operator", "raw-namespaced"])
def test_namespace_scope_grants_nothing_cluster_wide(source_id, renders):
    objects = renders(source_id).objects
    assert not of_kind(objects, "ClusterRole", "ClusterRoleBinding")
    assert of_kind(objects, "Role")


def test_namespace_scope_covers_the_listed_namespaces(renders):
    objects = renders("helm-namespaced-operator").objects
    for kind in ("Role", "RoleBinding"):
        found = {(obj["metadata"]["namespace"], obj["metadata"]["name"]) for obj in of_kind(objects, kind)}
        assert found == {
            (namespace, f"claude-agent-{tier}")
            for namespace in ("claude-agent", "shop")
            for tier in ("reader", "operator")
        }


@pytest.mark.parametrize("source_id", ["helm-default", "helm-airgapped", "helm-existing-secret-headless", "raw-base"])
def test_other_profiles_grant_what_readonly_grants(source_id, renders):
    """The README's readonly column stands for these too."""
    assert permissions(renders(source_id).objects) == permissions(renders("helm-readonly").objects)
