"""`helm lint --strict` on the chart with every shipped profile."""

from __future__ import annotations

import subprocess

import pytest

from .manifests import CHART_DIR, CHART_PROFILES, KUBE_VERSION

pytestmark = pytest.mark.chart


@pytest.mark.parametrize("profile", CHART_PROFILES, ids=lambda p: p or "values.yaml")
def test_helm_lint_strict(profile, helm_bin):
    cmd = [str(helm_bin), "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART_DIR)]
    if profile:
        cmd += ["--values", str(CHART_DIR / profile)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)}:\n{result.stdout}{result.stderr}"
    assert "[WARNING]" not in result.stdout, result.stdout
    assert "[ERROR]" not in result.stdout, result.stdout


def test_chart_metadata():
    import yaml

    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == CHART_DIR.name
    assert chart["appVersion"] == "0.1.0"
    for profile in CHART_PROFILES[1:]:
        assert (CHART_DIR / profile).is_file()
