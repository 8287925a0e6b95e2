"""Build the base image locally when no container registry is reachable (CI, air-gapped hosts).

`debootstrap --variant=minbase` gives a Debian rootfs from the Debian archive alone; trimming it
the way Debian's slim images are trimmed and `docker import`ing it yields a stand-in for
`debian:<suite>-slim`, built from the same packages the real image is built from.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from ciab.image import docker_bin, image_exists

DEFAULT_SUITE = "trixie"

# What Debian's slim variant leaves out.
SLIM_DPKG_EXCLUDES = [f"path-exclude /usr/share/{d}/*" for d in ("doc", "man", "info", "groff", "locale", "lintian")]
TRIM_PATHS = [
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "var/log",
]


def trim_rootfs(root: Path) -> None:
    for rel in TRIM_PATHS:
        target = root / rel
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    for binary_cache in (root / "var/cache/apt").glob("*.bin"):
        binary_cache.unlink()
    (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text("\n".join(SLIM_DPKG_EXCLUDES) + "\n")


def build_base_image(
    tag: str, suite: str = DEFAULT_SUITE, mirror: str | None = None, docker: str = "docker", log=print
) -> None:
    """debootstrap `suite` and import it as `tag`; needs root and the debootstrap package."""
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is not installed: apt-get install debootstrap")
    with tempfile.TemporaryDirectory(prefix="ciab-rootfs-") as tmp:
        root = Path(tmp) / "rootfs"
        # Without a mirror argument debootstrap uses its own default Debian mirror.
        cmd = ["debootstrap", "--variant=minbase", suite, str(root), *([mirror] if mirror else [])]
        log("+ " + " ".join(cmd))
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        trim_rootfs(root)
        log(f"+ docker import (rootfs of {suite}) {tag}")
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [docker, "import", "--change", 'CMD ["bash"]', "-", tag],
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise SystemExit("tar of the rootfs failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default=f"debian:{DEFAULT_SUITE}-slim")
    parser.add_argument("--suite", default=DEFAULT_SUITE)
    parser.add_argument("--mirror", help="Debian mirror URL (default: debootstrap's own)")
    parser.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    args = parser.parse_args()
    if not args.force and image_exists(args.tag):
        print(f"{args.tag} already present")
        return
    build_base_image(args.tag, args.suite, args.mirror, docker_bin())


if __name__ == "__main__":
    main()
