"""Shared fixtures: verified upstream binaries from vendor/ and the image under test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ciab import REPO_ROOT
from ciab.artifacts import ArtifactError, vendored_binary


def _binary(name: str) -> Path:
    try:
        return vendored_binary(name)
    except ArtifactError as exc:
        # Not a skip: every check that needs these binaries must run in CI.
        pytest.fail(f"{exc} (it fills vendor/ from docker/artifacts.lock)", pytrace=False)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def helm_bin() -> Path:
    return _binary("helm")


@pytest.fixture(scope="session")
def kubectl_bin() -> Path:
    return _binary("kubectl")


@pytest.fixture(scope="session")
def mcp_server_bin() -> Path:
    return _binary("kubernetes-mcp-server")


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    return _binary("claude")


@pytest.fixture(scope="session")
def image_tag() -> str:
    """Tag of the image under test; CIAB_IMAGE overrides the default build tag."""
    return os.environ.get("CIAB_IMAGE") or "claude-in-a-box:test"
