"""Integration suite: the agent on a real KIND cluster whose CNI (Calico) enforces NetworkPolicy.

Needs Docker with a running engine, kind, kubectl and helm (kubectl and helm may be the
checksum-verified copies in vendor/), and internet for the node image, the Calico manifest and
images and, unless CIAB_IMAGE names an image already built, the image build. When any of them is
missing every test skips and the reason names what is missing and how to install it.

Cluster: ciab.test_cluster (claude-in-a-box-test) from deploy/kind/test.yaml, with Calico, created
for the session and deleted at its end; a leftover from an interrupted run is recreated.
CIAB_KEEP_CLUSTER=1 reuses an existing cluster and keeps it, with the agent, for the next run or
for a look around (`kubectl --context kind-claude-in-a-box-test ...`):
    CIAB_KEEP_CLUSTER=1 nox -s integration
Image: CIAB_IMAGE (default claude-in-a-box:test), built from this tree unless CIAB_IMAGE is set,
then loaded into the nodes. The agent is deployed with the chart as `invoke deploy` does it;
read-only tier tests run first and operator tier tests last (see pytest_collection_modifyitems),
so the release changes tier once. A tier change restarts the pod: CLAUDE.md is written at start.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ciab.cluster import (
    TOOLS,
    LocalCluster,
    PreconditionError,
    Settings,
    Tools,
    find_tools,
    invoke_settings,
    subprocess_shell,
)
from ciab.image import build, image_exists


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Operator tier tests last (stable sort): the release is upgraded from readonly only once."""
    items.sort(key=lambda item: "operator_agent" in getattr(item, "fixturenames", ()))


# -- prerequisites ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kind_tools() -> Tools:
    try:
        return find_tools(TOOLS, log=lambda _: None)
    except PreconditionError as exc:
        pytest.skip(f"the KIND integration suite needs Docker, kind, kubectl and helm; {exc}")


@pytest.fixture(autouse=True)
def _kind_prerequisites(kind_tools: Tools) -> None:
    """Every test here skips, with the reason, where Docker/kind/kubectl/helm are missing."""


# -- cluster, image, deployment -------------------------------------------------------------------


@pytest.fixture(scope="session")
def settings(image_tag: str) -> Settings:
    return invoke_settings().for_tests(image_tag)


@pytest.fixture(scope="session")
def test_cluster(kind_tools: Tools, settings: Settings) -> Iterator[LocalCluster]:
    local = LocalCluster(settings, kind_tools, subprocess_shell())
    keep = os.environ.get("CIAB_KEEP_CLUSTER") == "1"
    if local.exists() and not keep:
        local.delete_cluster()  # left over from an interrupted run: start from a clean cluster
    try:
        local.ensure_cluster()
        yield local
    finally:
        if not keep:
            local.delete_cluster()


@pytest.fixture(scope="session")
def agent_image(test_cluster: LocalCluster, image_tag: str) -> str:
    if os.environ.get("CIAB_IMAGE"):
        if not image_exists(image_tag):
            pytest.fail(f"CIAB_IMAGE={image_tag} is not in the Docker engine; build it or unset CIAB_IMAGE")
    else:
        build(image_tag, source="auto", quiet=True)
    test_cluster.load_image(image_tag)
    return image_tag


@dataclass
class Kube:
    """kubectl against the test cluster; returns the CompletedProcess (check: fail on non-zero)."""

    kubectl: str
    context: str

    def argv(self, *args: str) -> list[str]:
        return [self.kubectl, "--context", self.context, *args]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 120, input: str | None = None
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {shlex.join(args)} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def json(self, *args: str) -> dict:
        return json.loads(self(*args, "--output=json").stdout)


@pytest.fixture(scope="session")
def kube(kind_tools: Tools, settings: Settings) -> Kube:
    return Kube(kind_tools.kubectl, settings.kube_context)


@dataclass
class Agent:
    """The agent's pod: exec into it, restart it, ask what its service account may do."""

    kube: Kube
    settings: Settings

    @property
    def namespace(self) -> str:
        return self.settings.namespace

    @property
    def pod(self) -> str:
        return self.settings.pod

    @property
    def service_account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.settings.release}"

    def exec_argv(self, *command: str, stdin: bool = False) -> list[str]:
        interactive = ["--stdin"] if stdin else []
        return self.kube.argv(
            "exec", *interactive, "--namespace", self.namespace, self.pod,
            "--container", self.settings.container, "--", *command,
        )  # fmt: skip

    def exec(self, *command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run(self.exec_argv(*command), capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"{shlex.join(command)} in {self.pod} failed (exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )
        return result

    def sh(self, script: str, **kwargs) -> subprocess.CompletedProcess:
        return self.exec("sh", "-c", script, **kwargs)

    def get(self) -> dict:
        return self.kube.json("get", "pod", self.pod, "--namespace", self.namespace)

    def ip(self) -> str:
        return self.get()["status"]["podIP"]

    def restart_count(self) -> int:
        statuses = self.get()["status"].get("containerStatuses", [])
        return sum(s["restartCount"] for s in statuses if s["name"] == self.settings.container)

    def wait_ready(self, timeout: int = 300) -> None:
        self.kube(
            "wait", "--for=condition=Ready", f"pod/{self.pod}", "--namespace", self.namespace,
            f"--timeout={timeout}s", timeout=timeout + 30,
        )  # fmt: skip

    def replace_pod(self, timeout: float = 300) -> None:
        """Delete the pod; return when the StatefulSet's replacement (a new UID) is ready."""
        old = self.get()["metadata"]["uid"]
        self.kube("delete", "pod", self.pod, "--namespace", self.namespace, "--wait=true", timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            uid = self.kube(
                "get", "pod", self.pod, "--namespace", self.namespace, "--ignore-not-found",
                "--output=jsonpath={.metadata.uid}", check=False,
            ).stdout.strip()  # fmt: skip
            if uid and uid != old:
                self.wait_ready()
                return
            time.sleep(1)
        raise AssertionError(f"no new {self.pod} within {timeout}s")

    def restart_container(self, timeout: float = 300) -> None:
        """SIGTERM to PID 1 (tini): the container exits and the kubelet restarts it in the same pod."""
        before = self.restart_count()
        self.sh("kill -TERM 1", check=False)  # the exec may die with the container
        deadline = time.monotonic() + timeout
        while self.restart_count() <= before:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.pod}'s container did not restart within {timeout}s")
            time.sleep(1)
        self.wait_ready()


class Deployment:
    """The chart installed in the test cluster, switched between profiles on demand."""

    def __init__(self, local: LocalCluster, image: str) -> None:
        self.local = local
        self.image = image
        self.profile: str | None = None

    def ensure(self, profile: str) -> None:
        if profile == self.profile:
            return
        existed = self.local.statefulset_exists()
        self.local.deploy(profile, "helm", self.image)
        if existed:
            # New tier or image for a running pod: restart so that it starts (and writes
            # CLAUDE.md) under them.
            self.local.restart()
        else:
            self.local.wait_ready()
        self.profile = profile


@pytest.fixture(scope="session")
def deployment(test_cluster: LocalCluster, agent_image: str) -> Deployment:
    return Deployment(test_cluster, agent_image)


@pytest.fixture
def readonly_agent(deployment: Deployment, kube: Kube, settings: Settings) -> Agent:
    deployment.ensure("readonly")
    return Agent(kube, settings)


@pytest.fixture
def operator_agent(deployment: Deployment, kube: Kube, settings: Settings) -> Agent:
    deployment.ensure("operator")
    return Agent(kube, settings)
