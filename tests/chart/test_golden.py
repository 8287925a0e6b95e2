"""Golden files: every Helm profile and scenario renders exactly as reviewed.

A change to the chart shows up here as a readable diff; after reviewing it, regenerate with
`nox -s helm_golden -- --update-golden` and commit the golden files with the change.
"""

from __future__ import annotations

import difflib

import pytest

from .manifests import GOLDEN_DIR, HELM_SOURCES

pytestmark = pytest.mark.chart


@pytest.mark.parametrize("source", HELM_SOURCES, ids=lambda s: s.id)
def test_render_matches_golden_file(source, renders, update_golden):
    actual = renders(source.id).text
    golden = GOLDEN_DIR / f"{source.id.removeprefix('helm-')}.yaml"
    if update_golden:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(actual)
        return
    assert golden.exists(), f"{golden} is missing: run `nox -s helm_golden -- --update-golden` and review it"
    expected = golden.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=f"golden/{golden.name}",
                tofile="helm template (now)",
            )
        )
        pytest.fail(
            f"{source.id} differs from its golden file (review, then `--update-golden`):\n{diff}", pytrace=False
        )


def test_no_stale_golden_files():
    expected = {f"{source.id.removeprefix('helm-')}.yaml" for source in HELM_SOURCES}
    stale = sorted(path.name for path in GOLDEN_DIR.glob("*.yaml") if path.name not in expected)
    assert not stale, f"golden files without a profile or scenario: {stale}"
