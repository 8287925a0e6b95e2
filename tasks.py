"""Claude In A Box tasks: build the image, run the agent on a local KIND cluster, tear it down.

`invoke --list` lists the tasks and `invoke --help <task>` their options. Settings live in
invoke.yaml under `ciab`; INVOKE_CIAB_<KEY> overrides one for a shell (INVOKE_CIAB_NAMESPACE=sre)
and a task option for one call. Every command is printed before it runs. An unmet precondition
ends the task with what to do about it and a non-zero exit code (69: a tool is missing or the
Docker engine is unreachable; a failed command: its own exit code).

The tasks are thin: the logic lives in ciab/ (cluster.py, image.py, artifacts.py, baseimage.py).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import sys
from collections.abc import Callable, Sequence

from invoke import Collection, Context, Exit, task
from invoke.exceptions import UnexpectedExit

from ciab import artifacts, image
from ciab.cluster import (
    TOOLS,
    VENDORABLE,
    CommandError,
    LocalCluster,
    PreconditionError,
    Settings,
    Tools,
    ensure_base_image,
    find_tools,
    locate,
    missing_tools,
)


class InvokeShell:
    """ciab.cluster.Shell over invoke's runner: echoes each command, raises CommandError."""

    def __init__(self, c: Context) -> None:
        self.c = c

    def __call__(self, argv: Sequence[str], *, capture: bool = False) -> str:
        command = shlex.join(str(a) for a in argv)
        try:
            result = self.c.run(command, echo=True, hide="out" if capture else None, in_stream=False)
        except UnexpectedExit as exc:
            raise CommandError(argv, exc.result.exited, exc.result.stderr) from None
        return result.stdout if capture else ""


def ciab_task(**options) -> Callable:
    """@task that turns unmet preconditions and failed commands into Exit(message, code)."""

    def decorate(body: Callable) -> Callable:
        @functools.wraps(body)
        def wrapper(c: Context, *args, **kwargs):
            try:
                return body(c, *args, **kwargs)
            except (PreconditionError, CommandError) as exc:
                raise Exit(f"error: {exc}", code=exc.code) from None

        return task(**options)(wrapper)

    return decorate


def say(message: str) -> None:
    print(message, flush=True)


def step(number: int, total: int, what: str) -> None:
    say(f"\n==> [{number}/{total}] {what}")


def settings_of(c: Context, **options: object) -> Settings:
    """invoke.yaml / INVOKE_CIAB_* settings with the task's non-empty options applied."""
    return Settings.from_mapping(dict(c.config.ciab)).with_options(**options)


def kube_tools(settings: Settings, *extra: str) -> Tools:
    """kubectl and `extra`; helm too, required unless the method is kustomize (then used if found)."""
    if settings.method == "helm":
        return find_tools([*extra, "kubectl", "helm"], log=say)
    tools = find_tools([*extra, "kubectl"], log=say)
    return dataclasses.replace(tools, helm=locate("helm")[0] or "")


def local_cluster(c: Context, settings: Settings, tools: Tools) -> LocalCluster:
    return LocalCluster(settings, tools, InvokeShell(c), log=say)


def vendor_artifacts(arches: list[str], source: str) -> None:
    try:
        artifacts.vendor(arches, source, log=say)
    except artifacts.ArtifactError as exc:
        hint = "" if source == "registry" else " (no internet? try --source registry)"
        raise PreconditionError(f"vendoring failed: {exc}{hint}") from None


def build_image(settings: Settings, *, vendor_if_needed: bool = False) -> None:
    arch = artifacts.host_arch()
    if settings.build_source == "vendor" and not image.vendor_complete(arch):
        if not vendor_if_needed:
            raise PreconditionError(
                f"vendor/ lacks verified binaries for {arch}: run `invoke vendor` first (or build with --source upstream)"
            )
        say(f"vendor/ is incomplete for {arch}: vendoring from {settings.vendor_source}")
        vendor_artifacts([arch], settings.vendor_source)
    if not image.image_exists(settings.base_image):
        say(
            f"note: base image {settings.base_image} is not present locally; the build pulls it "
            "(no registry reachable? run `invoke base-image` first)"
        )
    source = image.resolve_source(settings.build_source, arch)
    try:
        elapsed = image.build(settings.image, source=source, base_image=settings.base_image, log=say)
    except RuntimeError as exc:  # image.build reports a failed docker build this way
        raise PreconditionError(str(exc)) from None
    say(f"built    {settings.image} in {elapsed:.0f}s (upstream binaries from {source})")


# ---------------------------------------------------------------------------------------------
# Image


@ciab_task(
    help={
        "arch": "amd64, arm64 or all (default: this host's architecture)",
        "source": "upstream (the URLs in docker/artifacts.lock) or registry (the package registries); "
        "default: ciab.vendor_source",
    }
)
def vendor(c: Context, arch: str = "", source: str = "") -> None:
    """Fill vendor/ with the upstream binaries, each verified against docker/artifacts.lock."""
    settings = settings_of(c, vendor_source=source)
    arch = arch or artifacts.host_arch()
    if arch not in (*artifacts.ARCHES, "all"):
        raise PreconditionError(f"unknown arch {arch!r}; use amd64, arm64 or all", 64)
    vendor_artifacts(list(artifacts.ARCHES) if arch == "all" else [arch], settings.vendor_source)


@ciab_task(
    help={
        "tag": "the base image (default: ciab.base_image, debian:trixie-slim)",
        "pull": "try `docker pull` first; --no-pull goes straight to the local build",
    }
)
def base_image(c: Context, tag: str = "", pull: bool = True) -> None:
    """Make the runtime base image present: pull it, or build a debian:<suite>-slim stand-in.

    The stand-in is for hosts that reach no container registry (CI, air-gapped): debootstrap
    builds a Debian rootfs from the Debian archive and `docker import` turns it into the image
    (ciab/baseimage.py). It needs root and the debootstrap package.
    """
    settings = settings_of(c, base_image=tag)
    tools = find_tools(["docker"], log=say)
    ensure_base_image(settings.base_image, tools.docker, InvokeShell(c), pull=pull, log=say)


@ciab_task(
    help={
        "tag": "image tag (default: ciab.image, claude-in-a-box:dev)",
        "source": "where the upstream binaries come from: auto (vendor/ when complete, else upstream), "
        "upstream or vendor (default: ciab.build_source)",
        "base-image": "runtime base image (default: ciab.base_image)",
    }
)
def build(c: Context, tag: str = "", source: str = "", base_image: str = "") -> None:
    """Build the image from docker/Dockerfile with BuildKit."""
    settings = settings_of(c, image=tag, build_source=source, base_image=base_image)
    find_tools(["docker"], log=say)
    build_image(settings)


# ---------------------------------------------------------------------------------------------
# Cluster and deployment


@ciab_task(help={"test": "the integration suite's cluster instead (ciab.test_cluster, Calico CNI)"})
def cluster(c: Context, test: bool = False) -> None:
    """Create the KIND cluster (1 control plane + 2 workers) unless it exists; idempotent."""
    settings = settings_of(c)
    if test:
        settings = settings.for_tests(settings.image)
    tools = find_tools(["docker", "kind", "kubectl"], log=say)
    created = local_cluster(c, settings, tools).ensure_cluster()
    say(f"{'created' if created else 'ok      '} cluster {settings.cluster} (context {settings.kube_context})")


@ciab_task(help={"tag": "image to load (default: ciab.image)"})
def load(c: Context, tag: str = "") -> None:
    """Load the locally built image into the KIND cluster's nodes."""
    settings = settings_of(c, image=tag)
    tools = find_tools(["docker", "kind"], log=say)
    if not image.image_exists(settings.image):
        raise PreconditionError(f"image {settings.image} is not built: run `invoke build`")
    local_cluster(c, settings, tools).load_image(settings.image)


DEPLOY_HELP = {
    "method": "helm (the chart) or kustomize (kubectl apply -k); default: ciab.method",
    "profile": "readonly, operator, airgapped or default (the chart's own values); default: ciab.profile",
    "namespace": "namespace of the agent (default: ciab.namespace, claude-agent)",
    "tag": "image to run (default: ciab.image, the locally built one)",
    "wait": "wait until the agent is ready (--no-wait: return after applying)",
}


@ciab_task(help=DEPLOY_HELP)
def deploy(
    c: Context, method: str = "", profile: str = "", namespace: str = "", tag: str = "", wait: bool = True
) -> None:
    """Install or upgrade the agent: helm upgrade --install with the profile's values, or kubectl apply -k."""
    settings = settings_of(c, method=method, profile=profile, namespace=namespace, image=tag)
    agent = local_cluster(c, settings, kube_tools(settings))
    agent.require_context()
    agent.deploy(settings.profile, settings.method, settings.image)
    if wait:
        agent.wait_ready()


@ciab_task(
    help={
        "source": "build source: auto, upstream or vendor (default: ciab.build_source)",
        "namespace": DEPLOY_HELP["namespace"],
    }
)
def redeploy(c: Context, source: str = "", namespace: str = "") -> None:
    """Rebuild the image, load it into KIND and restart the agent on it (rollout restart, wait)."""
    settings = settings_of(c, build_source=source, namespace=namespace)
    tools = find_tools(["docker", "kind", "kubectl"], log=say)
    agent = local_cluster(c, settings, tools)
    agent.require_context()
    if not agent.statefulset_exists():
        raise PreconditionError(
            f"{settings.release} is not deployed in namespace {settings.namespace}: run `invoke deploy` (or bootstrap)"
        )
    build_image(settings)
    agent.load_image(settings.image)
    agent.restart()


@ciab_task(help={"namespace": DEPLOY_HELP["namespace"]})
def status(c: Context, namespace: str = "") -> None:
    """Nodes, the agent's pod and volume, recent events and readiness (exit 1 when not ready)."""
    settings = settings_of(c, namespace=namespace)
    agent = local_cluster(c, settings, kube_tools(settings))
    agent.require_context()
    if not agent.status():
        raise PreconditionError(f"{settings.pod} is not ready")


@ciab_task(
    help={
        "cluster": "also delete the KIND cluster",
        "namespace": DEPLOY_HELP["namespace"],
    }
)
def teardown(c: Context, cluster: bool = False, namespace: str = "") -> None:
    """Remove the agent (helm uninstall / kubectl delete -k); idempotent. The volume is kept.

    With --cluster the KIND cluster is deleted as well; when the agent runs in it (the default
    context), it goes with the cluster, so a broken cluster can still be removed.
    """
    settings = settings_of(c, namespace=namespace)
    agent = local_cluster(c, settings, kube_tools(settings, *(("docker", "kind") if cluster else ())))
    if cluster and settings.kube_context == f"kind-{settings.cluster}":
        say(f"the agent goes with cluster {settings.cluster}")
    elif agent.context_exists():
        agent.teardown()
    else:
        say(f"ok       no kubeconfig context {settings.kube_context}: nothing deployed to remove")
    if cluster:
        agent.delete_cluster()


@ciab_task(
    help={
        "follow": "keep streaming",
        "tail": "lines from the end (default 100; -1 for all)",
        "previous": "the previous (crashed) container's output",
        "namespace": DEPLOY_HELP["namespace"],
    }
)
def logs(c: Context, follow: bool = False, tail: int = 100, previous: bool = False, namespace: str = "") -> None:
    """The agent container's output: entrypoint messages and Claude's terminal."""
    settings = settings_of(c, namespace=namespace)
    agent = local_cluster(c, settings, find_tools(["kubectl"], log=say))
    agent.require_context()
    InvokeShell(c)(agent.logs_argv(follow=follow, tail=tail, previous=previous))


@ciab_task(
    help={
        "print-only": "print the kubectl command instead of running it",
        "namespace": DEPLOY_HELP["namespace"],
    }
)
def attach(c: Context, print_only: bool = False, namespace: str = "") -> None:
    """Attach this terminal to Claude in the pod (kubectl attach -it <pod> -c <container>)."""
    settings = settings_of(c, namespace=namespace)
    agent = local_cluster(c, settings, find_tools(["kubectl"], log=say))
    agent.require_context()
    argv = agent.attach_argv()
    say(f"+ {shlex.join(argv)}")
    if print_only:
        return
    if not sys.stdin.isatty():
        raise PreconditionError("attach needs a terminal: run the command above in one")
    say("(first start: type /login, or see `invoke bootstrap`'s notes on tokens; the login stays on the volume)")
    sys.stdout.flush()
    os.execvp(argv[0], argv)  # noqa: S606 (hand the terminal to kubectl; argv built above, no shell)


# ---------------------------------------------------------------------------------------------
# Everything


def bootstrap_tools(settings: Settings) -> Tools:
    """docker and kind must be installed; kubectl and helm may come from vendor/ (fetched if needed)."""
    missing = missing_tools(TOOLS)
    if any(name not in VENDORABLE for name in missing):
        return find_tools(TOOLS, log=say)  # raises, with an install hint for each missing tool
    if missing:
        say(f"{' and '.join(missing)} not found: vendoring the verified binaries from {settings.vendor_source}")
        vendor_artifacts([artifacts.host_arch()], settings.vendor_source)
    return find_tools(TOOLS, log=say)


def next_steps(settings: Settings, was_running: bool) -> None:
    ctx, ns, pod = settings.kube_context, settings.namespace, settings.pod
    kubectl = f"kubectl --context {ctx} -n {ns}"
    secret = f"{settings.release}-auth"
    say(
        f"Claude In A Box is ready: pod {pod} in namespace {ns}, context {ctx} "
        f"({settings.method}, profile {settings.profile}).\n"
        "\n"
        "  invoke attach                talk to Claude in the pod\n"
        "  invoke status                nodes, pod, volume, recent events, readiness\n"
        "  invoke logs [--follow]       the agent's output\n"
        "  invoke redeploy              rebuild and restart after changing docker/, skills/ or mcp/\n"
        "  invoke teardown [--cluster]  remove the agent (and the cluster)\n"
        "\n"
        "Log in once; the login stays on the volume across restarts:\n"
        "  - a token from `claude setup-token` (or an API key) in the auth Secret, then restart the pod:\n"
        f"      {kubectl} create secret generic {secret} --from-file=CLAUDE_CODE_OAUTH_TOKEN=<token-file>\n"
        f"      {kubectl} delete pod {pod}\n"
        "  - or /login inside `invoke attach`; it needs HTTPS beyond the Anthropic API ranges"
    )
    if settings.profile == "readonly":
        say("    (profile readonly allows only those ranges: use the token, or `invoke deploy --profile default`)")
    elif settings.profile == "airgapped":
        say(
            "    (profile airgapped has no outbound HTTPS at all: Claude reaches a model only through an endpoint you allow)"
        )
    if was_running:
        say("\nnote: the agent was already running; `invoke redeploy` restarts it on the image just built.")


@ciab_task(
    help={
        "profile": DEPLOY_HELP["profile"],
        "method": DEPLOY_HELP["method"],
        "source": "build source: auto, upstream or vendor (default: ciab.build_source)",
        "namespace": DEPLOY_HELP["namespace"],
    }
)
def bootstrap(c: Context, profile: str = "", method: str = "", source: str = "", namespace: str = "") -> None:
    """From nothing to a running agent, idempotent: prerequisites, base image, build, cluster, load, deploy."""
    settings = settings_of(c, profile=profile, method=method, build_source=source, namespace=namespace)
    total = 8
    step(1, total, "prerequisites: docker (and its engine), kind, kubectl, helm")
    tools = bootstrap_tools(settings)
    shell = InvokeShell(c)
    agent = LocalCluster(settings, tools, shell, log=say)
    step(2, total, f"base image {settings.base_image}")
    ensure_base_image(settings.base_image, tools.docker, shell, log=say)
    step(3, total, f"image {settings.image}")
    build_image(settings, vendor_if_needed=True)
    step(4, total, f"KIND cluster {settings.cluster}")
    agent.ensure_cluster()
    step(5, total, f"load {settings.image} into the cluster")
    agent.load_image(settings.image)
    step(6, total, f"deploy with {settings.method}, profile {settings.profile}, namespace {settings.namespace}")
    agent.require_context()
    was_running = agent.statefulset_exists()
    agent.deploy(settings.profile, settings.method, settings.image)
    step(7, total, f"wait for {settings.pod} to be ready")
    agent.wait_ready()
    step(8, total, "next steps")
    next_steps(settings, was_running)


ns = Collection(vendor, base_image, build, cluster, load, deploy, redeploy, status, teardown, logs, attach, bootstrap)
ns.configure({"ciab": dataclasses.asdict(Settings()), "run": {"echo": True}})
