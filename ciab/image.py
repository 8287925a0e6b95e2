"""Building the image: one function used by `invoke build`, the image tests and the benchmark."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from ciab import IMAGE_NAME, REPO_ROOT
from ciab.artifacts import VENDOR_DIR, ArtifactError, host_arch, load_lock, verified_binary

DEFAULT_BASE_IMAGE = "debian:trixie-slim"
DEFAULT_TAG = f"{IMAGE_NAME}:dev"


def docker_bin() -> str:
    """The docker client: CIAB_DOCKER, else Debian's /usr/bin/docker (BuildKit built in), else PATH."""
    if override := os.environ.get("CIAB_DOCKER"):
        return override
    if Path("/usr/bin/docker").exists():
        return "/usr/bin/docker"
    found = shutil.which("docker")
    if found is None:
        raise SystemExit("docker is not installed (Debian/Ubuntu: apt-get install docker.io)")
    return found


def vendor_complete(arch: str, vendor_dir: Path = VENDOR_DIR) -> bool:
    """True when vendor/ holds a verified file for every artifact of `arch`."""
    for artifact in load_lock():
        if artifact.arch != arch:
            continue
        path = vendor_dir / artifact.vendor_name
        if not path.exists():
            return False
        try:
            verified_binary(artifact, path.read_bytes())
        except ArtifactError:
            return False
    return True


def resolve_source(source: str, arch: str) -> str:
    """`auto` builds from vendor/ when it is complete (offline), otherwise from upstream URLs."""
    if source != "auto":
        return source
    return "vendor" if vendor_complete(arch) else "upstream"


def git_revision() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def build_command(
    tag: str, source: str, base_image: str, arch: str, extra: list[str] | None = None, context: Path = REPO_ROOT
) -> list[str]:
    return [
        docker_bin(),
        "build",
        "--file", str(context / "docker" / "Dockerfile"),
        "--platform", f"linux/{arch}",
        "--build-arg", f"BASE_IMAGE={base_image}",
        "--build-arg", f"ARTIFACT_SOURCE={source}",
        "--build-arg", f"REVISION={git_revision()}",
        "--tag", tag,
        *(extra or []),
        str(context),
    ]  # fmt: skip


def build(
    tag: str = DEFAULT_TAG,
    *,
    source: str = "auto",
    base_image: str = DEFAULT_BASE_IMAGE,
    arch: str | None = None,
    extra: list[str] | None = None,
    quiet: bool = False,
    context: Path = REPO_ROOT,
    log: Callable[[str], None] = print,
) -> float:
    """Build the image with BuildKit; returns the wall time in seconds. Raises on failure."""
    arch = arch or host_arch()
    source = resolve_source(source, arch)
    cmd = build_command(tag, source, base_image, arch, extra, context)
    log("+ " + " ".join(cmd))
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=quiet, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        detail = f"\n{result.stderr[-4000:]}" if quiet else ""
        raise RuntimeError(f"docker build failed (exit {result.returncode}){detail}")
    return elapsed


def image_exists(tag: str) -> bool:
    return subprocess.run([docker_bin(), "image", "inspect", tag], capture_output=True).returncode == 0
