"""Parity: each Helm profile and its kustomize counterpart describe the same objects.

Compared whole after normalisation: only Helm's own labels (helm.sh/chart,
app.kubernetes.io/managed-by) and annotations are ignored; RBAC rules are compared as sets of
(apiGroup, resource, verb) and env vars by name (order carries no meaning there).
"""

from __future__ import annotations

import copy
import difflib
import os
import subprocess

import pytest
import yaml

from .manifests import CHART_DIR, PARITY_PAIRS, RAW_DIR, ROLE_KINDS, WORKLOAD_KINDS, containers, pod_spec

pytestmark = pytest.mark.chart

HELM_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by"}


def normalise(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta["labels"] = {k: v for k, v in meta.get("labels", {}).items() if k not in HELM_LABELS}
    annotations = {
        k: v for k, v in meta.pop("annotations", {}).items() if not k.startswith(("meta.helm.sh/", "checksum/"))
    }
    if annotations:
        meta["annotations"] = annotations
    if obj["kind"] in ROLE_KINDS:
        obj["rules"] = sorted(
            (group, resource, verb)
            for rule in obj.pop("rules")
            for group in rule["apiGroups"]
            for resource in rule["resources"]
            for verb in rule["verbs"]
        )
    if obj["kind"] in WORKLOAD_KINDS:
        for container in containers(pod_spec(obj)):
            container["env"] = sorted(container.get("env", []), key=lambda var: var["name"])
    return obj


def keyed(objects: list[dict]) -> dict[tuple, dict]:
    return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): normalise(o) for o in objects}


def as_yaml(obj: dict) -> list[str]:
    return yaml.safe_dump(obj, sort_keys=True).splitlines(keepends=True)


@pytest.mark.parametrize(("helm_id", "raw_id"), PARITY_PAIRS)
def test_helm_and_kustomize_describe_the_same_objects(helm_id, raw_id, renders):
    helm, raw = keyed(renders(helm_id).objects), keyed(renders(raw_id).objects)
    assert sorted(helm, key=str) == sorted(raw, key=str), "different objects (kind, namespace, name)"
    diffs = [
        "".join(difflib.unified_diff(as_yaml(raw[key]), as_yaml(helm[key]), f"{raw_id} {key}", f"{helm_id} {key}"))
        for key in sorted(helm, key=str)
        if helm[key] != raw[key]
    ]
    assert not diffs, "\n".join(diffs)


def test_raw_version_follows_the_chart(renders):
    """The kustomize base carries the chart's appVersion as image tag and version label."""
    app_version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    for obj in renders("raw-base").objects:
        assert obj["metadata"]["labels"]["app.kubernetes.io/version"] == app_version
        if obj["kind"] == "StatefulSet":
            assert pod_spec(obj)["containers"][0]["image"] == f"claude-in-a-box:{app_version}"


def test_raw_overlay_moves_to_another_namespace(kubectl_bin, tmp_path):
    """A user overlay that sets its own namespace moves every object and every RBAC subject."""
    overlay = os.path.relpath(RAW_DIR / "overlays" / "operator", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump({"namespace": "sre-tools", "resources": [overlay]}, sort_keys=False)
    )
    result = subprocess.run([str(kubectl_bin), "kustomize", str(tmp_path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    for obj in objects:
        if obj["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
            assert obj["metadata"]["namespace"] == "sre-tools", obj["kind"]
        for subject in obj.get("subjects", []):
            assert subject["namespace"] == "sre-tools"
    assert {obj["kind"] for obj in objects} >= {"ClusterRoleBinding", "StatefulSet", "NetworkPolicy"}
