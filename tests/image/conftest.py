"""Image tests run against the real image on a real Docker engine.

The image is built once per session (offline from vendor/ when it is complete, as in CI);
CIAB_IMAGE names an already-built image to test instead. Every container and volume a test
creates gets a unique name and is removed afterwards.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ciab.image import build, docker_bin

pytestmark = pytest.mark.image

SHIM_DIR = Path(__file__).parent / "shims"


@dataclass
class Docker:
    """Thin wrapper over the docker CLI that remembers what to clean up."""

    binary: str
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def __call__(self, *args: str, check: bool = False, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, *args], capture_output=True, text=True, check=check, timeout=timeout, **kw)

    def name(self, prefix: str = "ciab-test") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:8]}"

    def volume(self) -> str:
        name = self.name("ciab-vol")
        self("volume", "create", name, check=True)
        self.volumes.append(name)
        return name

    def run(self, image: str, *args: str, name: str | None = None, options: tuple[str, ...] = (), **kw):
        """`docker run --rm` in the foreground; returns the CompletedProcess."""
        name = name or self.name()
        self.containers.append(name)
        return self("run", "--rm", "--name", name, *options, image, *args, **kw)

    def start(self, image: str, *args: str, options: tuple[str, ...] = ()) -> str:
        """`docker run -d`; returns the container name."""
        name = self.name()
        self.containers.append(name)
        self("run", "-d", "--name", name, *options, image, *args, check=True)
        return name

    def wait_until(self, container: str, command: list[str], timeout: float = 30) -> None:
        """Poll `docker exec container command` until it succeeds (e.g. the readiness probe)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self("exec", container, *command).returncode == 0:
                return
            time.sleep(0.25)
        logs = self("logs", container)
        raise AssertionError(f"{command} did not succeed in {timeout}s; logs:\n{logs.stdout}{logs.stderr}")

    def cleanup(self) -> None:
        for container in self.containers:
            self("rm", "-f", "-v", container)
        for volume in self.volumes:
            self("volume", "rm", "-f", volume)


@pytest.fixture(scope="session")
def docker_cli() -> str:
    binary = docker_bin()
    result = subprocess.run([binary, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(
            f"the Docker engine is not reachable ({result.stderr.strip()}); start dockerd, or run `bash .ci/run`",
            pytrace=False,
        )
    return binary


@pytest.fixture(scope="session")
def built_image(docker_cli: str, image_tag: str) -> str:
    if os.environ.get("CIAB_IMAGE"):
        return image_tag
    build(image_tag, source="auto", quiet=True)
    return image_tag


@pytest.fixture
def docker(docker_cli: str) -> Iterator[Docker]:
    helper = Docker(docker_cli)
    yield helper
    helper.cleanup()


@pytest.fixture
def shim_options() -> tuple[str, ...]:
    """Mount the recording stand-in for claude and point the entrypoint at it."""
    return ("-v", f"{SHIM_DIR}:/shims:ro", "-e", "CLAUDE_BIN=/shims/claude")
