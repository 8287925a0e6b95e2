"""Benchmarks of the image, printed as figures (run by `nox -s bench`; not a test, nothing asserted).

- image size: total, per layer, per component (upstream binaries, Debian toolkit, base)
- entrypoint start-to-exec: standalone, and with an API server that refuses connections
- liveness/readiness probes: wall time and peak RSS inside a running agent
- rebuild after touching one script versus a cold build (from a copy of the build context)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from ciab import REPO_ROOT
from ciab.image import DEFAULT_TAG, build, docker_bin

TARGETS = {"image_bytes": 1.0e9, "start_to_exec_ms": 200, "probe_ms": 50, "probe_rss_kib": 10 * 1024, "rebuild": 0.10}
STATE_MOUNTS = ["--read-only", "--tmpfs", "/tmp:exec", "--tmpfs", "/workspace:uid=10000,gid=10000",
                "--tmpfs", "/home/agent/.claude:uid=10000,gid=10000"]  # fmt: skip


def docker(*args: str, check: bool = True) -> str:
    return subprocess.run([docker_bin(), *args], check=check, capture_output=True, text=True).stdout


def verdict(value: float, target: float) -> str:
    return "within target" if value <= target else "OVER TARGET"


def size_report(image: str) -> None:
    total = int(docker("image", "inspect", "--format", "{{.Size}}", image))
    print(f"\n## Image size: {total / 1e9:.3f} GB ({total / 2**20:.0f} MiB), target <= 1.0 GB: "
          f"{verdict(total, TARGETS['image_bytes'])}")  # fmt: skip
    print("\nPer layer (non-empty):")
    for line in docker(
        "history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", image
    ).splitlines():
        size, created_by = line.split("\t", 1)
        if int(size) > 0:
            print(f"  {int(size) / 2**20:9.1f} MiB  {created_by.replace('/bin/bash -Eeuo pipefail -c ', '')[:90]}")
    components = docker(
        "run", "--rm", "--entrypoint", "bash", image, "-c",
        "stat -c '%s %n' /usr/local/bin/{claude,kubectl,helm,kubernetes-mcp-server};"
        " dpkg-query -W -f='${Installed-Size} ${Package}\\n' | sort -rn | head -n 10",
    ).splitlines()  # fmt: skip
    print("\nUpstream binaries:")
    for line in components[:4]:
        size, path = line.split()
        print(f"  {int(size) / 2**20:9.1f} MiB  {Path(path).name}")
    print("Largest Debian packages (installed size):")
    for line in components[4:]:
        size, package = line.split()
        print(f"  {int(size) / 1024:9.1f} MiB  {package}")


STAMP = "printf '#!/bin/sh\\ndate +%%s%%N > /tmp/exec-at\\n' > /tmp/stamp && chmod +x /tmp/stamp"
START_LOOP = (
    STAMP + " && for i in $(seq {n}); do s=$(date +%s%N); CLAUDE_BIN=/tmp/stamp entrypoint 2>/dev/null"
    " || exit 1; echo $(( ($(cat /tmp/exec-at) - s) / 1000 )); done"
)
FAKE_SA = ("mkdir -p /tmp/sa && echo token > /tmp/sa/token && echo default > /tmp/sa/namespace"
           " && : > /tmp/sa/ca.crt && ")  # fmt: skip


def start_to_exec(image: str, runs: int) -> None:
    print(f"\n## Entrypoint start-to-exec ({runs} runs, interactive mode, target <= {TARGETS['start_to_exec_ms']} ms)")
    scenarios = {
        "standalone (no service account)": ([], START_LOOP),
        "in-cluster, API refuses connections": (
            ["-e", "CIAB_SA_DIR=/tmp/sa", "-e", "CIAB_API_URL=https://127.0.0.1:1"],
            FAKE_SA + START_LOOP,
        ),
    }
    for name, (env, script) in scenarios.items():
        out = docker("run", "--rm", "-t", *STATE_MOUNTS, *env, "-e", "ANTHROPIC_API_KEY=sk-bench",
                     "--entrypoint", "bash", image, "-c", script.format(n=runs))  # fmt: skip
        samples = sorted(int(x) / 1000 for x in out.split())
        p95 = samples[int(len(samples) * 0.95) - 1]
        print(f"  {name:38s} median {statistics.median(samples):6.1f} ms  p95 {p95:6.1f} ms  "
              f"max {samples[-1]:6.1f} ms  {verdict(p95, TARGETS['start_to_exec_ms'])}")  # fmt: skip


# GNU time reports the probe's own peak RSS (a Python launcher would count its pre-exec fork).
PROBE_LOOP = (
    "for i in $(seq {n}); do s=$(date +%s%N); /usr/bin/time -f %M -o /tmp/rss /usr/local/bin/{probe} || exit 1;"
    " echo $(( ($(date +%s%N) - s) / 1000 )) $(cat /tmp/rss); done"
)


def probes(image: str, runs: int) -> None:
    print(f"\n## Probes inside a running agent ({runs} runs each; targets <= {TARGETS['probe_ms']} ms, "
          f"<= {TARGETS['probe_rss_kib'] // 1024} MB peak RSS)")  # fmt: skip
    name = f"ciab-bench-{uuid.uuid4().hex[:8]}"
    docker("run", "-d", "-t", "-i", "--name", name, *STATE_MOUNTS, "-e", "ANTHROPIC_API_KEY=sk-bench", image)
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([docker_bin(), "exec", name, "readiness"], capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit("the agent did not become ready in 60 s")
            time.sleep(0.5)
        for probe in ("liveness", "readiness"):
            out = docker("exec", name, "bash", "-c", PROBE_LOOP.format(n=runs, probe=probe))
            pairs = [line.split() for line in out.splitlines() if line.strip()]
            times = sorted(int(us) / 1000 for us, _ in pairs)
            rss = max(int(kib) for _, kib in pairs)
            p95 = times[int(len(times) * 0.95) - 1]
            print(f"  {probe:10s} median {statistics.median(times):5.1f} ms  p95 {p95:5.1f} ms  peak RSS {rss / 1024:4.1f} MB"
                  f"  {verdict(p95, TARGETS['probe_ms'])}, {verdict(rss, TARGETS['probe_rss_kib'])}")  # fmt: skip
    finally:
        docker("rm", "-f", name, check=False)


def rebuild(runs: int) -> None:
    print("\n## Rebuild after touching one script vs a cold build (copy of the build context)")
    with tempfile.TemporaryDirectory(prefix="ciab-bench-ctx-") as tmp:
        context = Path(tmp)
        for part in ("docker", "mcp", "skills"):
            shutil.copytree(REPO_ROOT / part, context / part)
        (context / "vendor").mkdir()
        for item in (REPO_ROOT / "vendor").iterdir():
            os.link(item, context / "vendor" / item.name)  # same filesystem: no 600 MB copy
        shutil.copy(REPO_ROOT / ".dockerignore", context)
        tag = f"ciab-bench:{uuid.uuid4().hex[:8]}"
        try:
            cold = build(tag, context=context, extra=["--no-cache"], quiet=True, log=lambda _: None)
            warm = []
            for i in range(runs):
                with (context / "docker" / "entrypoint.sh").open("a") as script:
                    script.write(f"# bench touch {i}\n")
                warm.append(build(tag, context=context, quiet=True, log=lambda _: None))
        finally:
            docker("rmi", "-f", tag, check=False)
    ratio = statistics.median(warm) / cold
    print(f"  cold build (--no-cache): {cold:6.1f} s")
    print(f"  after touching docker/entrypoint.sh: median {statistics.median(warm):5.1f} s of {runs} "
          f"({ratio:.1%} of cold; target <= 10%: {verdict(ratio, TARGETS['rebuild'])})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--image", default=os.environ.get("CIAB_IMAGE"), help="an image to use instead of building the tree"
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--skip-rebuild", action="store_true", help="skip the cold build (minutes)")
    args = parser.parse_args()
    if args.image is None:  # build the tree as it is (cached layers make this seconds)
        args.image = DEFAULT_TAG
        build(args.image, quiet=True)
    size_report(args.image)
    start_to_exec(args.image, args.runs)
    probes(args.image, args.runs)
    if not args.skip_rebuild:
        rebuild(runs=3)


if __name__ == "__main__":
    main()
