"""The local Kubernetes workflow behind tasks.py and the integration suite.

Prerequisite checks (with install hints), the command lines for kind, kubectl and helm, and the
idempotent steps built on them: create a KIND cluster (with Calico when its config disables the
default CNI), load the image, deploy with Helm or kustomize, wait for readiness, tear down.

Every command runs through a `Shell`: invoke's runner in tasks.py, `subprocess_shell` in the
integration suite, a recording fake in the unit tests. kubectl and helm always get an explicit
context (`kind-<cluster>` unless `ciab.context` says otherwise), so a task never acts on
whatever cluster the user's current context happens to point at.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from ciab import REPO_ROOT
from ciab.artifacts import ArtifactError, vendored_binary
from ciab.image import DEFAULT_BASE_IMAGE, docker_bin

PROFILES = ("readonly", "operator", "airgapped", "default")
"""Chart values-<profile>.yaml / deploy/raw/overlays/<profile>; `default` is the chart's own
values (deploy/raw/base): read-only tier with public HTTPS, the one where /login works."""
METHODS = ("helm", "kustomize")
TOOLS = ("docker", "kind", "kubectl", "helm")

# The raw manifests name the StatefulSet (and so the pod) claude-agent; Helm names it after the
# release.
RAW_NAME = "claude-agent"

# deploy/kind/*.yaml pin node images built by this kind release. Node images work only with the
# kind release that built them: the release notes of each kind release list its images with
# their digests (https://github.com/kubernetes-sigs/kind/releases).
KIND_VERSION = "v0.33.0"

# Calico enforces NetworkPolicy in the test cluster (deploy/kind/test.yaml disables kindnet).
# Versions and their manifests: https://github.com/projectcalico/calico/releases; the manifest
# of a release is manifests/calico.yaml at its tag. Bump together with the comment in test.yaml.
CALICO_VERSION = "v3.32.3"
CALICO_MANIFEST_URL = f"https://raw.githubusercontent.com/projectcalico/calico/{CALICO_VERSION}/manifests/calico.yaml"

# Exit codes (sysexits.h, as the entrypoint uses them).
EX_FAILURE = 1
EX_USAGE = 64
EX_UNAVAILABLE = 69  # a prerequisite tool is missing or the Docker engine is unreachable

INSTALL_HINTS = {
    "docker": (
        "install Docker Engine (https://docs.docker.com/engine/install/; Debian/Ubuntu: "
        "apt-get install docker.io) and start it, or point CIAB_DOCKER at a docker client"
    ),
    "kind": (
        f"install kind {KIND_VERSION} (https://kind.sigs.k8s.io/docs/user/quick-start/#installation, "
        f"or: go install sigs.k8s.io/kind@{KIND_VERSION})"
    ),
    "kubectl": (
        "install kubectl (https://kubernetes.io/docs/tasks/tools/), or run `invoke vendor` to use "
        "the checksum-verified copy in vendor/"
    ),
    "helm": (
        "install helm (https://helm.sh/docs/intro/install/), or run `invoke vendor` to use the "
        "checksum-verified copy in vendor/"
    ),
}
VENDORABLE = ("kubectl", "helm")


class PreconditionError(Exception):
    """Something must be done before this step can run; the message says what."""

    def __init__(self, message: str, code: int = EX_FAILURE) -> None:
        super().__init__(message)
        self.code = code


class CommandError(Exception):
    """A command exited non-zero."""

    def __init__(self, argv: Sequence[str], code: int, stderr: str = "") -> None:
        self.argv = [str(a) for a in argv]
        self.code = code or EX_FAILURE
        self.stderr = stderr
        detail = stderr.strip()[-2000:]
        super().__init__(f"`{shlex.join(self.argv)}` failed (exit {code})" + (f":\n{detail}" if detail else ""))


class Shell(Protocol):
    """Runs argv after printing it. capture=True hides and returns stdout; raises CommandError."""

    def __call__(self, argv: Sequence[str], *, capture: bool = False) -> str: ...


Log = Callable[[str], None]


def _print(message: str) -> None:
    print(message, flush=True)


def subprocess_shell(log: Log = _print) -> Shell:
    """A Shell on subprocess (the integration suite; tasks.py uses invoke's runner instead)."""

    def run(argv: Sequence[str], *, capture: bool = False) -> str:
        argv = [str(a) for a in argv]
        log(f"+ {shlex.join(argv)}")
        result = subprocess.run(argv, stdout=subprocess.PIPE if capture else None, stderr=subprocess.PIPE, text=True)
        if not capture and result.stderr:
            sys.stderr.write(result.stderr)
        if result.returncode != 0:
            raise CommandError(argv, result.returncode, result.stderr)
        return result.stdout if capture else ""

    return run


# ---------------------------------------------------------------------------------------------
# Settings (invoke.yaml `ciab:`, INVOKE_CIAB_* environment variables, task options)


@dataclass(frozen=True)
class Settings:
    """What the tasks act on. Paths are relative to the repository root."""

    cluster: str = "claude-in-a-box"
    test_cluster: str = "claude-in-a-box-test"
    kind_config: str = "deploy/kind/dev.yaml"
    test_kind_config: str = "deploy/kind/test.yaml"
    context: str = ""  # kubeconfig context; empty means kind-<cluster>
    namespace: str = "claude-agent"
    release: str = RAW_NAME
    container: str = "agent"
    image: str = "claude-in-a-box:dev"
    profile: str = "default"
    method: str = "helm"
    chart: str = "deploy/helm/claude-in-a-box"
    overlays: str = "deploy/raw/overlays"
    base_image: str = DEFAULT_BASE_IMAGE
    build_source: str = "auto"
    vendor_source: str = "upstream"
    timeout: int = 300  # seconds to wait for rollouts, readiness and node readiness

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> Settings:
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - set(fields))
        if unknown:
            raise PreconditionError(
                f"unknown ciab setting(s) {', '.join(unknown)}; known: {', '.join(fields)}", EX_USAGE
            )
        values = {key: (int(value) if key == "timeout" else str(value)) for key, value in mapping.items()}
        return cls(**values).validated()

    def with_options(self, **changes: object) -> Settings:
        """A copy with the non-empty changes applied (unset task options keep the settings)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v not in ("", None)}).validated()

    def validated(self) -> Settings:
        if self.profile not in PROFILES:
            raise PreconditionError(f"unknown profile {self.profile!r}; use one of {', '.join(PROFILES)}", EX_USAGE)
        if self.method not in METHODS:
            raise PreconditionError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}", EX_USAGE)
        if self.build_source not in ("auto", "upstream", "vendor"):
            raise PreconditionError(
                f"unknown build source {self.build_source!r}; use auto, upstream or vendor", EX_USAGE
            )
        if self.vendor_source not in ("registry", "upstream"):
            raise PreconditionError(f"unknown vendor source {self.vendor_source!r}; use registry or upstream", EX_USAGE)
        return self

    def for_tests(self, image: str) -> Settings:
        """The integration suite's cluster: test_cluster from test_kind_config (Calico)."""
        return dataclasses.replace(
            self, cluster=self.test_cluster, kind_config=self.test_kind_config, context="", image=image
        )

    @property
    def kube_context(self) -> str:
        return self.context or f"kind-{self.cluster}"

    @property
    def pod(self) -> str:
        return f"{self.release}-0"

    @property
    def kind_config_path(self) -> Path:
        return REPO_ROOT / self.kind_config

    @property
    def chart_dir(self) -> Path:
        return REPO_ROOT / self.chart

    def values_file(self, profile: str) -> Path | None:
        """The chart's values file for a profile (None for `default`: the chart's own values)."""
        return None if profile == "default" else self.chart_dir / f"values-{profile}.yaml"

    def overlay_dir(self, profile: str) -> Path:
        """The kustomization for a profile (`default` is the base the overlays build on)."""
        overlays = REPO_ROOT / self.overlays
        return overlays.parent / "base" if profile == "default" else overlays / profile


def invoke_settings() -> Settings:
    """Settings exactly as tasks.py sees them: defaults < invoke.yaml < INVOKE_CIAB_* variables."""
    from invoke import Config  # the tasks dependency group; imported here so the rest works without it

    config = Config(project_location=str(REPO_ROOT))
    config.load_collection({"ciab": dataclasses.asdict(Settings())})
    config.load_project()
    config.load_shell_env()
    return Settings.from_mapping(dict(config.ciab))


# ---------------------------------------------------------------------------------------------
# Prerequisites


@dataclass(frozen=True)
class Tools:
    """Resolved executables ("" where not needed by the caller)."""

    docker: str = ""
    kind: str = ""
    kubectl: str = ""
    helm: str = ""

    def need(self, name: str) -> str:
        path = getattr(self, name)
        if not path:
            raise PreconditionError(f"{name} is needed here: {INSTALL_HINTS[name]}", EX_UNAVAILABLE)
        return path


def locate(name: str, which: Callable[[str], str | None] = shutil.which) -> tuple[str | None, str]:
    """(path, how it was found) or (None, why not and how to install it)."""
    if name == "docker":
        try:
            candidate = docker_bin()
        except SystemExit:
            return None, f"not found; {INSTALL_HINTS['docker']}"
        found = which(candidate)
        if found is None:
            return None, f"{candidate} is not an executable; {INSTALL_HINTS['docker']}"
        return found, "docker client"
    found = which(name)
    if found is not None:
        return found, "on PATH"
    if name in VENDORABLE:
        try:
            return str(vendored_binary(name, verify_checksum=True)), "vendored, checksum verified"
        except ArtifactError as exc:
            return None, f"not on PATH, and no usable copy in vendor/ ({exc}); {INSTALL_HINTS[name]}"
    return None, f"not on PATH; {INSTALL_HINTS[name]}"


def docker_engine(docker: str) -> tuple[str | None, str | None]:
    """(engine version, None) when the engine answers, else (None, why not and the fix)."""
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return None, "`docker info` did not answer within 60s; is the engine healthy?"
    if result.returncode == 0 and result.stdout.strip():
        return result.stdout.strip(), None
    reason = (result.stderr.strip().splitlines() or ["no answer"])[-1]
    return None, (
        f"the Docker engine is not reachable ({reason}); start it (systemctl start docker, or dockerd) "
        "and make sure this user may use its socket"
    )


def find_tools(names: Iterable[str], *, log: Log = _print) -> Tools:
    """Resolve every tool in `names`; one PreconditionError (exit 69) lists all that are missing."""
    names = list(names)
    found: dict[str, str] = {}
    problems = []
    for name in names:
        path, how = locate(name)
        if path is None:
            problems.append(f"  - {name}: {how}")
        else:
            found[name] = path
            log(f"ok       {name:8} {path} ({how})")
    if "docker" in found:
        version, problem = docker_engine(found["docker"])
        if problem:
            problems.append(f"  - docker engine: {problem}")
        else:
            log(f"ok       engine   Docker {version}")
    if problems:
        raise PreconditionError("missing prerequisites:\n" + "\n".join(problems), EX_UNAVAILABLE)
    return Tools(**found)


def missing_tools(names: Iterable[str]) -> list[str]:
    return [name for name in names if locate(name)[0] is None]


# ---------------------------------------------------------------------------------------------
# Command lines


def split_image(image: str) -> tuple[str, str, str]:
    """("registry", "repository", "tag") of a reference such as localhost:5000/team/app:1.0."""
    if "@" in image:
        raise PreconditionError(f"image {image!r}: use a tag, not a digest, for a locally built image", EX_USAGE)
    name, tag = image, "latest"
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
    registry = ""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, rest
    return registry, name, tag


def helm_values_args(settings: Settings, profile: str, image: str) -> list[str]:
    """--values for the profile, and the image set to `image` (the registry cleared for a local one)."""
    registry, repository, tag = split_image(image)
    values = settings.values_file(profile)
    args = ["--values", str(values)] if values is not None else []
    return [
        *args,
        "--set-string", f"image.registry={registry}",
        "--set-string", f"image.repository={repository}",
        "--set-string", f"image.tag={tag}",
        "--set-string", "image.digest=",
        "--set-string", "image.pullPolicy=IfNotPresent",
    ]  # fmt: skip


def kustomization_document(settings: Settings, profile: str, image: str | None, root: Path) -> dict:
    """A kustomization in `root` that applies the profile's overlay to settings.namespace with `image`.

    The overlays are not edited: this wrapper refers to one (kustomize refuses absolute paths,
    so by a relative path) and patches the agent container's image by name, whatever registry
    the overlay uses (the airgapped one names a private registry).
    """
    overlay = settings.overlay_dir(profile)
    document: dict = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": settings.namespace,
        "resources": [os.path.relpath(overlay.resolve(), root.resolve())],
    }
    if image:
        patch = {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": RAW_NAME},
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": settings.container, "image": image, "imagePullPolicy": "IfNotPresent"}]
                    }
                }
            },
        }
        document["patches"] = [
            {"target": {"kind": "StatefulSet", "name": RAW_NAME}, "patch": yaml.safe_dump(patch, sort_keys=False)}
        ]
    return document


@contextmanager
def kustomization(settings: Settings, profile: str, image: str | None) -> Iterator[Path]:
    """A temporary directory holding kustomization_document(); removed afterwards."""
    overlay = settings.overlay_dir(profile)
    if not (overlay / "kustomization.yaml").is_file():
        raise PreconditionError(f"no kustomization for profile {profile!r} at {overlay}")
    with tempfile.TemporaryDirectory(prefix="ciab-kustomize-") as tmp:
        root = Path(tmp).resolve()
        text = yaml.safe_dump(kustomization_document(settings, profile, image, root), sort_keys=False)
        (root / "kustomization.yaml").write_text(f"# Generated by ciab.cluster for `invoke deploy`.\n{text}")
        yield root


def kind_config(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def needs_calico(path: Path) -> bool:
    """True when the KIND config disables the default CNI (then Calico is installed)."""
    return bool((kind_config(path).get("networking") or {}).get("disableDefaultCNI"))


# ---------------------------------------------------------------------------------------------
# Steps


class LocalCluster:
    """The KIND cluster and the agent deployed in it, driven through a Shell."""

    def __init__(self, settings: Settings, tools: Tools, shell: Shell, log: Log = _print) -> None:
        self.settings = settings
        self.tools = tools
        self.shell = shell
        self.log = log

    # -- kind ------------------------------------------------------------------------------------

    def kind(self, *args: str) -> list[str]:
        return [self.tools.need("kind"), *args]

    def clusters(self) -> list[str]:
        # "No kind clusters found." goes to stderr; stdout holds one name per line.
        return self.shell(self.kind("get", "clusters"), capture=True).split()

    def exists(self) -> bool:
        return self.settings.cluster in self.clusters()

    def check_kind_version(self) -> None:
        out = self.shell(self.kind("version"), capture=True)
        match = re.search(r"\bv\d+\.\d+\.\d+\S*", out)
        if match and match.group(0) != KIND_VERSION:
            self.log(
                f"note: {self.settings.kind_config} pins a node image built for kind {KIND_VERSION}; this is "
                f"kind {match.group(0)}. If the cluster does not come up, install kind {KIND_VERSION}."
            )

    def ensure_cluster(self) -> bool:
        """Create the cluster unless it exists (True if created); install Calico if the config asks."""
        name, config = self.settings.cluster, self.settings.kind_config_path
        if not config.is_file():
            raise PreconditionError(f"KIND config {config} not found")
        created = False
        if self.exists():
            self.log(f"ok       cluster {name} exists; refreshing its kubeconfig context {self.settings.kube_context}")
            self.shell(self.kind("export", "kubeconfig", "--name", name))
        else:
            self.check_kind_version()
            self.shell(self.kind("create", "cluster", "--name", name, "--config", str(config)))
            created = True
        if needs_calico(config):
            self.install_calico()
        self.shell(
            self.kubectl("wait", "--for=condition=Ready", "nodes", "--all", f"--timeout={self.settings.timeout}s")
        )
        return created

    def delete_cluster(self) -> bool:
        name = self.settings.cluster
        if not self.exists():
            self.log(f"ok       cluster {name} does not exist; nothing to delete")
            return False
        self.shell(self.kind("delete", "cluster", "--name", name))
        return True

    def load_image(self, image: str) -> None:
        self.require_cluster()
        # kind skips nodes that already hold an image with the same ID.
        self.shell(self.kind("load", "docker-image", image, "--name", self.settings.cluster))

    def require_cluster(self) -> None:
        if not self.exists():
            raise PreconditionError(f"KIND cluster {self.settings.cluster} does not exist: run `invoke cluster`")

    def install_calico(self) -> None:
        """Calico from its release manifest (server-side apply: idempotent, no annotation size limit)."""
        self.log(f"==> Calico {CALICO_VERSION} (NetworkPolicy enforcement)")
        timeout = f"--timeout={self.settings.timeout}s"
        self.shell(self.kubectl("apply", "--server-side", "--force-conflicts", "--filename", CALICO_MANIFEST_URL))
        self.shell(self.kubectl("--namespace", "kube-system", "rollout", "status", "daemonset/calico-node", timeout))
        self.shell(
            self.kubectl(
                "--namespace", "kube-system", "rollout", "status", "deployment/calico-kube-controllers", timeout
            )
        )

    # -- kubectl and helm ------------------------------------------------------------------------

    def kubectl(self, *args: str) -> list[str]:
        return [self.tools.need("kubectl"), "--context", self.settings.kube_context, *args]

    def kubectl_ns(self, *args: str) -> list[str]:
        return self.kubectl("--namespace", self.settings.namespace, *args)

    def helm(self, *args: str) -> list[str]:
        return [self.tools.need("helm"), "--kube-context", self.settings.kube_context, *args]

    def context_exists(self) -> bool:
        contexts = self.shell([self.tools.need("kubectl"), "config", "get-contexts", "--output=name"], capture=True)
        return self.settings.kube_context in contexts.split()

    def require_context(self) -> None:
        if not self.context_exists():
            raise PreconditionError(
                f"kubeconfig has no context {self.settings.kube_context}: create the cluster with "
                "`invoke cluster` (or set ciab.context to an existing context)"
            )

    def release_exists(self) -> bool:
        if not self.tools.helm:
            return False
        out = self.shell(
            self.helm(
                "list", "--namespace", self.settings.namespace, "--all", "--short",
                "--filter", f"^{re.escape(self.settings.release)}$",
            ),
            capture=True,
        )  # fmt: skip
        return self.settings.release in out.split()

    def statefulset_exists(self) -> bool:
        out = self.shell(
            self.kubectl_ns("get", "statefulset", self.settings.release, "--ignore-not-found", "--output=name"),
            capture=True,
        )
        return bool(out.strip())

    def installed_method(self) -> str | None:
        """How the agent was deployed: helm, kustomize, or None when it is not.

        The Helm release answers when helm is at hand; otherwise the StatefulSet's
        app.kubernetes.io/managed-by label (Helm sets "Helm"; the raw manifests say kustomize).
        """
        if self.release_exists():
            return "helm"
        if not self.statefulset_exists():
            return None
        label = self.shell(
            self.kubectl_ns(
                "get", "statefulset", self.settings.release, "--ignore-not-found",
                "--output=jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}",
            ),
            capture=True,
        )  # fmt: skip
        return "helm" if label.strip() == "Helm" else "kustomize"

    def ensure_namespace(self) -> None:
        ns = self.settings.namespace
        if self.shell(
            self.kubectl("get", "namespace", ns, "--ignore-not-found", "--output=name"), capture=True
        ).strip():
            return
        self.shell(self.kubectl("create", "namespace", ns))

    def deploy(self, profile: str, method: str, image: str) -> None:
        """helm upgrade --install with the profile's values, or kubectl apply -k of its overlay."""
        settings = self.settings
        installed = self.installed_method()
        if installed and installed != method:
            raise PreconditionError(
                f"{settings.release} is deployed with {installed} in namespace {settings.namespace}; "
                f"run `invoke teardown` before deploying with {method}"
            )
        if method == "helm":
            if not (settings.chart_dir / "Chart.yaml").is_file():
                raise PreconditionError(f"no Helm chart at {settings.chart_dir}")
            values = settings.values_file(profile)
            if values is not None and not values.is_file():
                raise PreconditionError(f"profile {profile!r} has no values file {values}")
            self.shell(
                self.helm(
                    "upgrade", "--install", settings.release, str(settings.chart_dir),
                    "--namespace", settings.namespace, "--create-namespace",
                    *helm_values_args(settings, profile, image),
                )
            )  # fmt: skip
            return
        if settings.release != RAW_NAME:
            raise PreconditionError(
                f"the raw manifests name the StatefulSet {RAW_NAME}; set ciab.release to {RAW_NAME} for kustomize"
            )
        self.ensure_namespace()
        with kustomization(settings, profile, image) as root:
            self.log(f"kustomization {root}/kustomization.yaml:\n{(root / 'kustomization.yaml').read_text()}")
            self.shell(self.kubectl("apply", "--kustomize", str(root)))

    def teardown(self) -> bool:
        """Remove the agent (helm uninstall or kubectl delete -k); False if nothing was deployed."""
        settings = self.settings
        method = self.installed_method()
        if method is None:
            self.log(f"ok       nothing deployed as {settings.release} in namespace {settings.namespace}")
            return False
        if method == "helm":
            self.shell(self.helm("uninstall", settings.release, "--namespace", settings.namespace))
        else:
            # Any profile may have been applied: delete with each overlay (later ones find less).
            for profile in PROFILES:
                if (settings.overlay_dir(profile) / "kustomization.yaml").is_file():
                    with kustomization(settings, profile, None) as root:
                        self.shell(self.kubectl("delete", "--kustomize", str(root), "--ignore-not-found"))
        self.log(
            f"kept     namespace {settings.namespace} and its PersistentVolumeClaim (the login and sessions); "
            f"remove them with: kubectl --context {settings.kube_context} delete namespace {settings.namespace}"
        )
        return True

    def wait_ready(self) -> None:
        """Wait for the rollout and the pod's readiness; on timeout print what went wrong."""
        timeout = f"--timeout={self.settings.timeout}s"
        try:
            self.shell(self.kubectl_ns("rollout", "status", f"statefulset/{self.settings.release}", timeout))
            self.shell(self.kubectl_ns("wait", "--for=condition=Ready", f"pod/{self.settings.pod}", timeout))
        except CommandError as exc:
            self.diagnose()
            raise PreconditionError(
                f"{self.settings.pod} did not become ready within {self.settings.timeout}s (details above; "
                "`invoke status` and `invoke logs` show more)"
            ) from exc

    def diagnose(self) -> None:
        """Best-effort context after a failed wait: every command here may fail on its own."""
        for argv in (
            self.kubectl_ns("get", "pods", "--output=wide"),
            self.kubectl_ns("get", "events", "--sort-by=.lastTimestamp"),
            self.kubectl_ns("logs", self.settings.pod, "--container", self.settings.container, "--tail=40"),
        ):
            try:
                self.shell(argv)
            except CommandError as exc:
                self.log(f"(diagnostics: {exc})")

    def restart(self) -> None:
        self.shell(self.kubectl_ns("rollout", "restart", f"statefulset/{self.settings.release}"))
        self.wait_ready()

    def pod_ready(self) -> bool:
        out = self.shell(
            self.kubectl_ns(
                "get", "pod", self.settings.pod, "--ignore-not-found",
                "--output=jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ),
            capture=True,
        )  # fmt: skip
        return out.strip() == "True"

    def status(self, events: int = 8) -> bool:
        """Print nodes, workload, volume, recent events and readiness; True when the agent is ready."""
        settings = self.settings
        nodes = self.shell(self.kubectl("get", "nodes", "--no-headers"), capture=True).splitlines()
        ready_nodes = sum(1 for line in nodes if re.search(r"\sReady\s", line))
        self.log(f"cluster  {settings.kube_context}: {ready_nodes}/{len(nodes)} nodes ready")
        method = self.installed_method()
        if method is None:
            self.log(f"agent    not deployed in namespace {settings.namespace}: run `invoke deploy`")
            return False
        self.log(f"agent    {settings.release} in namespace {settings.namespace} (deployed with {method})")
        self.shell(self.kubectl_ns("get", "statefulset,pods,pvc", "--output=wide"))
        lines = self.shell(self.kubectl_ns("get", "events", "--sort-by=.lastTimestamp"), capture=True).splitlines()
        if lines:
            self.log(f"recent events (last {events}):")
            for line in [lines[0], *lines[1:][-events:]]:
                self.log(f"  {line}")
        ready = self.pod_ready()
        self.log(f"ready    {settings.pod}: {'yes' if ready else 'NO'}")
        return ready

    def logs_argv(self, *, follow: bool = False, tail: int = 100, previous: bool = False) -> list[str]:
        argv = self.kubectl_ns("logs", self.settings.pod, "--container", self.settings.container, f"--tail={tail}")
        if follow:
            argv.append("--follow")
        if previous:
            argv.append("--previous")
        return argv

    def attach_argv(self) -> list[str]:
        return self.kubectl_ns("attach", "-it", self.settings.pod, "--container", self.settings.container)


# ---------------------------------------------------------------------------------------------
# Base image


def ensure_base_image(tag: str, docker: str, shell: Shell, *, pull: bool = True, log: Log = _print) -> str:
    """Make `tag` present: already there, pulled, or (debian:<suite>-slim only) built with debootstrap.

    Returns how it was obtained. The stand-in is built from the Debian archive by ciab.baseimage
    for hosts that reach no container registry (CI, air-gapped); it needs root and debootstrap.
    """
    from ciab.baseimage import build_base_image
    from ciab.image import image_exists

    if image_exists(tag):
        log(f"ok       base image {tag} is present")
        return "present"
    if pull:
        try:
            shell([docker, "pull", tag])
            return "pulled"
        except CommandError as exc:
            log(f"cannot pull {tag} ({str(exc).splitlines()[-1]})")
    match = re.fullmatch(r"(?:\S+/)?debian:([a-z]+)-slim", tag)
    if match is None:
        raise PreconditionError(
            f"base image {tag} is not present and could not be pulled; only debian:<suite>-slim can be built "
            "locally: pull or load it yourself, or build with the default base image"
        )
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise PreconditionError(
            f"building the stand-in for {tag} runs debootstrap, which needs root: sudo invoke base-image"
        )
    log(
        f"building a local stand-in for {tag}: debootstrap --variant=minbase {match.group(1)} from the Debian "
        "archive, trimmed like Debian's slim images, then docker import (no container registry needed)"
    )
    try:
        build_base_image(tag, suite=match.group(1), docker=docker, log=log)
    except SystemExit as exc:  # baseimage reports a missing debootstrap this way
        raise PreconditionError(str(exc)) from None
    except subprocess.CalledProcessError as exc:
        raise CommandError(exc.cmd, exc.returncode) from None
    return "built"
