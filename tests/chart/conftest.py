"""Fixtures of the chart suite: the one Helm render fixture, kustomize builds, and Trivy.

`pytest --update-golden` rewrites tests/chart/golden/ from the current chart instead of
comparing with it.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ciab.scan import trivy_bin

from .manifests import (
    BAD_MANIFEST,
    BAD_SOURCE_ID,
    CHART_DIR,
    KUBE_VERSION,
    NAMESPACE,
    RELEASE,
    SOURCES,
    TRIVY_IGNORE_FILE,
    RenderError,
    Source,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the chart golden files (tests/chart/golden/) instead of comparing with them",
    )


@dataclass(frozen=True)
class Rendered:
    """Manifests as produced (text) and parsed (one dict per non-empty document)."""

    text: str
    objects: list[dict]


def _run(cmd: list[str]) -> Rendered:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RenderError(cmd, result.stderr)
    return Rendered(result.stdout, [doc for doc in yaml.safe_load_all(result.stdout) if doc])


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    return request.config.getoption("--update-golden")


@pytest.fixture(scope="session")
def render(helm_bin: Path) -> Callable[..., Rendered]:
    """`helm template` of the chart at the pinned Kubernetes version.

    render(*values_files, set_values=("key=value", ...)) returns a Rendered; a failing helm
    raises RenderError whose message (shown by pytest) includes helm's stderr.
    """
    cache: dict[tuple, Rendered] = {}

    def _render(*values: Path, set_values: tuple[str, ...] = (), release: str = RELEASE) -> Rendered:
        key = (values, set_values, release)
        if key not in cache:
            cmd = [str(helm_bin), "template", release, str(CHART_DIR)]
            cmd += ["--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
            for path in values:
                cmd += ["--values", str(path)]
            for assignment in set_values:
                cmd += ["--set", assignment]
            cache[key] = _run(cmd)
        return cache[key]

    return _render


@pytest.fixture(scope="session")
def kustomize(kubectl_bin: Path) -> Callable[[Path], Rendered]:
    """`kubectl kustomize <dir>` with the vendored kubectl; RenderError on failure."""
    cache: dict[Path, Rendered] = {}

    def _build(directory: Path) -> Rendered:
        if directory not in cache:
            cache[directory] = _run([str(kubectl_bin), "kustomize", str(directory)])
        return cache[directory]

    return _build


@pytest.fixture(scope="session")
def renders(render, kustomize) -> Callable[[str], Rendered]:
    """The manifests of a catalogued source (tests/chart/manifests.py) by id."""

    def _get(source_id: str) -> Rendered:
        source: Source = SOURCES[source_id]
        if source.is_helm:
            return render(*source.values, set_values=source.set_values)
        return kustomize(source.kustomization)

    return _get


@dataclass(frozen=True)
class TrivyScan:
    """Misconfiguration IDs per scanned directory (a source id), with and without the ignore file."""

    findings: dict[str, list[dict]]  # with deploy/trivyignore.yaml
    unfiltered: dict[str, list[dict]]  # without it


def _trivy_binary() -> Path:
    try:
        return trivy_bin()
    except SystemExit as exc:
        pytest.fail(f"{exc} (chart dependency group)", pytrace=False)


def _parse_trivy(output: str) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {}
    for result in json.loads(output).get("Results") or []:
        directory = Path(result["Target"]).parts[0]
        results.setdefault(directory, []).extend(result.get("Misconfigurations") or [])
    return results


@pytest.fixture(scope="session")
def trivy_scan(renders, tmp_path_factory: pytest.TempPathFactory) -> TrivyScan:
    """One offline `trivy config` run over every source (plus a deliberately bad manifest),
    once with deploy/trivyignore.yaml and once without, side by side."""
    trivy = _trivy_binary()
    root = tmp_path_factory.mktemp("trivy")
    scan_dir = root / "renders"
    for source_id in SOURCES:
        (scan_dir / source_id).mkdir(parents=True)
        (scan_dir / source_id / "manifest.yaml").write_text(renders(source_id).text)
    (scan_dir / BAD_SOURCE_ID).mkdir()
    (scan_dir / BAD_SOURCE_ID / "manifest.yaml").write_text(yaml.safe_dump(BAD_MANIFEST))

    def command(*extra: str) -> list[str]:
        return [
            str(trivy), "config", "--quiet", "--format", "json", "--exit-code", "0",
            "--skip-check-update", "--misconfig-scanners", "kubernetes",
            "--cache-dir", str(root / "cache"), *extra, ".",
        ]  # fmt: skip

    no_ignores = root / "empty.trivyignore"  # explicit, so no default .trivyignore applies
    no_ignores.write_text("")
    runs = {
        "findings": command("--ignorefile", str(TRIVY_IGNORE_FILE)),
        "unfiltered": command("--ignorefile", str(no_ignores)),
    }
    processes = {
        name: subprocess.Popen(cmd, cwd=scan_dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name, cmd in runs.items()
    }
    parsed = {}
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        if process.returncode != 0:
            pytest.fail(f"{' '.join(runs[name])} failed (exit {process.returncode}):\n{stderr}", pytrace=False)
        parsed[name] = _parse_trivy(stdout)
    return TrivyScan(**parsed)
