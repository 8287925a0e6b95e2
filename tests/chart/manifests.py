"""What the chart tests render, and small helpers to query parsed Kubernetes objects.

Every Helm profile and scenario and every kustomize overlay is a `Source`; tests are
parametrized over these catalogues and get the parsed objects from the `renders` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ciab import REPO_ROOT

# The Kubernetes version every render and schema check is pinned to.
KUBE_VERSION = "1.35.0"
RELEASE = "claude-agent"
NAMESPACE = "claude-agent"

CHART_DIR = REPO_ROOT / "deploy" / "helm" / "claude-in-a-box"
RAW_DIR = REPO_ROOT / "deploy" / "raw"
TRIVY_IGNORE_FILE = REPO_ROOT / "deploy" / "trivyignore.yaml"
README = REPO_ROOT / "README.md"
TESTS_DIR = Path(__file__).resolve().parent
GOLDEN_DIR = TESTS_DIR / "golden"
SCENARIO_DIR = TESTS_DIR / "values"

READONLY, OPERATOR = "readonly", "operator"


@dataclass(frozen=True)
class Source:
    """One set of manifests: a Helm profile/scenario (values files) or a kustomize directory."""

    id: str
    tier: str  # readonly | operator: what the RBAC must grant
    values: tuple[Path, ...] = ()  # Helm only
    kustomization: Path | None = None  # kustomize only
    airgapped: bool = False
    set_values: tuple[str, ...] = field(default=())

    @property
    def is_helm(self) -> bool:
        return self.kustomization is None


HELM_SOURCES = [
    Source("helm-default", READONLY),
    Source("helm-readonly", READONLY, (CHART_DIR / "values-readonly.yaml",)),
    Source("helm-operator", OPERATOR, (CHART_DIR / "values-operator.yaml",)),
    Source("helm-airgapped", READONLY, (CHART_DIR / "values-airgapped.yaml",), airgapped=True),
    Source("helm-namespaced", READONLY, (SCENARIO_DIR / "namespaced.yaml",)),
    Source("helm-namespaced-operator", OPERATOR, (SCENARIO_DIR / "namespaced-operator.yaml",)),
    Source("helm-existing-secret-headless", READONLY, (SCENARIO_DIR / "existing-secret-headless.yaml",)),
    Source("helm-proxy-custom", READONLY, (SCENARIO_DIR / "proxy-custom.yaml",)),
]
RAW_SOURCES = [
    Source("raw-base", READONLY, kustomization=RAW_DIR / "base"),
    Source("raw-readonly", READONLY, kustomization=RAW_DIR / "overlays" / "readonly"),
    Source("raw-operator", OPERATOR, kustomization=RAW_DIR / "overlays" / "operator"),
    Source("raw-airgapped", READONLY, kustomization=RAW_DIR / "overlays" / "airgapped", airgapped=True),
    Source("raw-namespaced", READONLY, kustomization=RAW_DIR / "overlays" / "namespaced"),
]
ALL_SOURCES = HELM_SOURCES + RAW_SOURCES
SOURCES = {source.id: source for source in ALL_SOURCES}

# The chart's shipped profiles (helm lint --strict runs on each).
CHART_PROFILES = [None, "values-readonly.yaml", "values-operator.yaml", "values-airgapped.yaml"]

# Helm render ↔ kustomize build that must describe the same objects.
PARITY_PAIRS = [
    ("helm-default", "raw-base"),
    ("helm-readonly", "raw-readonly"),
    ("helm-operator", "raw-operator"),
    ("helm-airgapped", "raw-airgapped"),
    ("helm-namespaced", "raw-namespaced"),
]

WORKLOAD_KINDS = {"Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"}
ROLE_KINDS = {"Role", "ClusterRole"}
BINDING_KINDS = {"RoleBinding", "ClusterRoleBinding"}


class RenderError(Exception):
    """helm or kubectl exited non-zero; the message carries the command and its stderr."""

    def __init__(self, cmd: list[str], stderr: str):
        self.cmd = cmd
        self.stderr = stderr
        super().__init__(f"{' '.join(cmd)} failed:\n{stderr.strip()}")


# A manifest that breaks most checks: proves that the scan can find something.
BAD_MANIFEST = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "deliberately-bad", "namespace": "default"},
    "spec": {
        "hostNetwork": True,
        "containers": [
            {"name": "bad", "image": "busybox:latest", "securityContext": {"privileged": True, "runAsUser": 0}}
        ],
    },
}
BAD_SOURCE_ID = "deliberately-bad"


def of_kind(objects: list[dict], *kinds: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] in kinds]


def one(objects: list[dict], kind: str, name: str | None = None) -> dict:
    """The single object of `kind` (and `name`); fails with what was there instead."""
    found = [obj for obj in of_kind(objects, kind) if name is None or obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[o['metadata']['name'] for o in found]}"
    return found[0]


def pod_spec(workload: dict) -> dict:
    """The pod spec of any workload kind."""
    if workload["kind"] == "Pod":
        return workload["spec"]
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return workload["spec"]["template"]["spec"]


def containers(spec: dict) -> list[dict]:
    return [*spec.get("initContainers", []), *spec.get("containers", []), *spec.get("ephemeralContainers", [])]


def ref(obj: dict) -> str:
    """kind/namespace/name, for messages."""
    meta = obj["metadata"]
    return f"{obj['kind']}/{meta.get('namespace', '-')}/{meta['name']}"


def rbac_grants(objects: list[dict]) -> Iterator[tuple[str, str, str, str]]:
    """Every (role ref, apiGroup, resource, verb) granted by the Roles and ClusterRoles."""
    for role in of_kind(objects, *ROLE_KINDS):
        for rule in role.get("rules", []):
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    for verb in rule.get("verbs", []):
                        yield ref(role), group, resource, verb


def permissions(objects: list[dict]) -> dict[tuple[str, str], set[str]]:
    """(apiGroup, resource) → verbs, over all Roles and ClusterRoles."""
    table: dict[tuple[str, str], set[str]] = {}
    for _, group, resource, verb in rbac_grants(objects):
        table.setdefault((group, resource), set()).add(verb)
    return table
