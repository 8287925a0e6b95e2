"""Every rendered object of every profile and overlay is valid Kubernetes, checked offline
against the OpenAPI schemas shipped by kubernetes-validate (strict: unknown fields fail)."""

from __future__ import annotations

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions

from .manifests import ALL_SOURCES, KUBE_VERSION, ref

pytestmark = pytest.mark.chart


def test_schemas_for_the_pinned_version_are_installed():
    # kubernetes-validate silently falls back to the newest older schemas it has.
    assert KUBE_VERSION in all_versions(), (
        f"kubernetes-validate {kubernetes_validate.__version__} has no schemas for Kubernetes {KUBE_VERSION}; "
        f"it has {sorted(set(all_versions()))[-3:]}: upgrade it"
    )


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: s.id)
def test_every_object_matches_the_kubernetes_schema(source, renders):
    objects = renders(source.id).objects
    assert objects, f"{source.id} rendered nothing"
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            errors.append(f"{ref(obj)}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{ref(obj)}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_schema_validation_rejects_an_invalid_object():
    """The check itself can fail: a misspelt field in a StatefulSet is reported."""
    bad = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "imagee": "x"}]}},
        },
    }
    with pytest.raises(kubernetes_validate.ValidationError, match="imagee"):
        kubernetes_validate.validate(bad, KUBE_VERSION, strict=True)
