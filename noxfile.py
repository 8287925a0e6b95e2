"""Checks for Claude In A Box, one isolated session each: `nox -l` lists them.

`nox` alone runs the default sessions (everything CI runs). Sessions that need the upstream
binaries (helm, kubernetes-mcp-server, claude) take them from vendor/, filled and verified
against docker/artifacts.lock by `invoke vendor`.
"""

from __future__ import annotations

import glob

import nox

nox.needs_version = ">=2024.10"
nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True
# integration first: where kind is absent it only skips, and a run should close on tests that ran.
nox.options.sessions = ["lint", "integration", "unit", "helm_golden", "validate", "scan", "image"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
SHELL_SCRIPTS = ["docker/*.sh", ".ci/run", "tests/image/shims/*"]


def install(session: nox.Session, *groups: str) -> None:
    """The project (with its own dependencies) plus the named dependency groups of pyproject.toml."""
    session.install(*nox.project.dependency_groups(PYPROJECT, *groups), "-e", ".")


def pytest(session: nox.Session, *args: str) -> None:
    session.run("pytest", *args, *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff, shellcheck, hadolint and yamllint over the whole tree."""
    install(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    scripts = sorted({str(p) for pattern in SHELL_SCRIPTS for p in glob.glob(pattern)})
    session.run("shellcheck", "--severity=style", "--external-sources", *scripts)
    session.run("hadolint", "--failure-threshold", "style", "docker/Dockerfile")
    session.run("yamllint", "--strict", ".")


@nox.session
def unit(session: nox.Session) -> None:
    """Unit tests: Python helpers, scripts sourced in isolation, skills, MCP handshake."""
    install(session, "test", "skills")
    pytest(session, "-m", "unit", "tests/unit")


@nox.session
def helm_golden(session: nox.Session) -> None:
    """Render every chart profile with the real helm; compare with golden files (-- --update-golden)."""
    install(session, "chart")
    pytest(session, "-m", "chart", "tests/chart/test_golden.py")


@nox.session
def validate(session: nox.Session) -> None:
    """Schemas, restricted PSS, RBAC, Trivy misconfig and parity for every render and overlay."""
    install(session, "chart")
    pytest(session, "-m", "chart", "tests/chart", "--deselect", "tests/chart/test_golden.py")


@nox.session
def image(session: nox.Session) -> None:
    """Build the image on the real Docker engine, then test it (offline from vendor/ under CI)."""
    install(session, "test")
    pytest(session, "-m", "image", "tests/image")


@nox.session
def scan(session: nox.Session) -> None:
    """Trivy misconfiguration scan of the Dockerfile and an SPDX SBOM of the built image."""
    install(session, "scan")
    session.run("python", "-m", "ciab.scan", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks: image size breakdown, entrypoint start-to-exec, probe cost, rebuild time."""
    install(session)
    session.run("python", "-m", "ciab.bench", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """End-to-end suite on a real KIND cluster (skips with the reason when kind/docker are absent)."""
    install(session, "test")
    pytest(session, "-m", "integration", "tests/integration")
