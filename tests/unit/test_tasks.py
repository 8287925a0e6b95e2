"""tasks.py end to end through invoke, with fake kind/kubectl/helm/docker executables on PATH.

The fakes record every argv (JSON lines) and keep a little state (clusters, contexts, releases,
images, readiness) in a JSON file, so the tasks' sequencing and idempotency are tested without
a cluster or a Docker engine: bootstrap order, reuse of an existing cluster, missing
prerequisites, idempotent teardown, the values file/overlay a deploy picks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from invoke import Config, Context, Exit

from ciab import REPO_ROOT, artifacts, cluster, image
from ciab.artifacts import ArtifactError

pytestmark = pytest.mark.unit

TASKS = [
    "vendor",
    "base-image",
    "build",
    "cluster",
    "load",
    "deploy",
    "redeploy",
    "status",
    "teardown",
    "logs",
    "attach",
    "bootstrap",
]

FAKE_TOOL = r'''
import json, os, sys
from pathlib import Path

tool = Path(sys.argv[0]).name
args = sys.argv[1:]
state_file = Path(os.environ["FAKE_STATE"])
state = json.loads(state_file.read_text())
record = {"tool": tool, "argv": args}


def log():
    with open(os.environ["FAKE_LOG"], "a") as f:
        f.write(json.dumps(record) + "\n")


def done(code=0, out="", err=""):
    log()
    state_file.write_text(json.dumps(state))
    sys.stdout.write(out)
    sys.stderr.write(err)
    sys.exit(code)


def strip(flags):
    """args without the global flags that take a value (--context X, --namespace X)."""
    rest, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg in flags:
            skip = True
        else:
            rest.append(arg)
    return rest


def opt(name):
    for i, arg in enumerate(args):
        if arg == name:
            return args[i + 1]
    return None


line = " ".join([tool, *args])
if any(line.startswith(prefix) for prefix in state.get("fail", [])):
    done(3, err=f"fake {tool}: failing on purpose\n")

if tool == "docker":
    if args[:1] == ["info"]:
        if state["engine"]:
            done(out="27.0.1\n")
        done(1, err="Cannot connect to the Docker daemon at unix:///var/run/docker.sock\n")
    if args[:2] == ["image", "inspect"]:
        done(0 if args[2] in state["images"] else 1)
    if args[:1] == ["build"]:
        state["images"].append(opt("--tag"))
        done()
    if args[:1] == ["pull"]:
        done(1, err="Error response from daemon: no registry\n")
    done()

if tool == "kind":
    name = opt("--name")
    if args[:2] == ["get", "clusters"]:
        done(out="".join(f"{c}\n" for c in state["clusters"]), err="" if state["clusters"] else "No kind clusters found.\n")
    if args[:1] == ["version"]:
        done(out="kind v0.33.0 go1.25.3 linux/amd64\n")
    if args[:2] == ["create", "cluster"]:
        state["clusters"].append(name)
        state["contexts"].append(f"kind-{name}")
        done()
    if args[:2] == ["delete", "cluster"]:
        state["clusters"].remove(name)
        state["contexts"].remove(f"kind-{name}")
        done()
    if args[:2] == ["export", "kubeconfig"] and f"kind-{name}" not in state["contexts"]:
        state["contexts"].append(f"kind-{name}")
    done()

if tool == "kubectl":
    rest = strip({"--context", "--namespace"})
    if rest[:2] == ["config", "get-contexts"]:
        done(out="".join(f"{c}\n" for c in state["contexts"]))
    if rest[:2] == ["get", "statefulset"]:
        if rest[2] not in state["statefulsets"]:
            done()
        manager = "Helm" if rest[2] in state["releases"] else "kustomize"
        done(out=manager if any("managed-by" in a for a in rest) else f"statefulset.apps/{rest[2]}\n")
    if rest[:2] == ["get", "namespace"]:
        done(out=f"namespace/{rest[2]}\n" if rest[2] in state["namespaces"] else "")
    if rest[:2] == ["create", "namespace"]:
        state["namespaces"].append(rest[2])
        done()
    if rest[:1] in (["apply"], ["delete"]) and "--kustomize" in rest:
        record["kustomization"] = (Path(opt("--kustomize")) / "kustomization.yaml").read_text()
        if rest[0] == "apply":
            state["statefulsets"].append("claude-agent")
        elif "claude-agent" in state["statefulsets"]:
            state["statefulsets"].remove("claude-agent")
        done()
    if rest[:2] == ["get", "pod"]:
        done(out="True" if state["ready"] else "False")
    if rest[:2] == ["get", "nodes"]:
        done(out="n1   Ready   control-plane\nn2   Ready   <none>\nn3   Ready   <none>\n")
    if rest[:2] == ["get", "events"]:
        done(out="LAST SEEN   TYPE   REASON   OBJECT   MESSAGE\n1m   Normal   Started   pod/claude-agent-0   ok\n")
    agent = any(a.startswith(("pod/", "statefulset/")) for a in rest)
    if rest[:1] in (["wait"], ["rollout"]) and rest[1:2] != ["restart"] and agent and not state["ready"]:
        done(1, err="error: timed out waiting for the condition\n")
    done()

if tool == "helm":
    rest = strip({"--kube-context", "--namespace"})
    if rest[:1] == ["list"]:
        done(out="".join(f"{r}\n" for r in state["releases"]))
    if rest[:2] == ["upgrade", "--install"]:
        if rest[2] not in state["releases"]:
            state["releases"].append(rest[2])
            state["statefulsets"].append(rest[2])
        done()
    if rest[:1] == ["uninstall"]:
        state["releases"].remove(rest[1])
        state["statefulsets"].remove(rest[1])
        done()
    done()
'''


@dataclass
class Fake:
    bin_dir: Path
    state_file: Path
    log_file: Path

    @property
    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    def set(self, **changes) -> None:
        self.state_file.write_text(json.dumps({**self.state, **changes}))

    def records(self) -> list[dict]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def lines(self) -> list[str]:
        return [" ".join([r["tool"], *r["argv"]]) for r in self.records()]

    def count(self, needle: str) -> int:
        return sum(needle in line for line in self.lines())

    def index(self, needle: str) -> int:
        for i, line in enumerate(self.lines()):
            if needle in line:
                return i
        raise AssertionError(f"{needle!r} never ran; ran:\n" + "\n".join(self.lines()))

    def remove(self, tool: str) -> None:
        (self.bin_dir / tool).unlink()


@pytest.fixture
def fake(tmp_path, monkeypatch) -> Fake:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("docker", "kind", "kubectl", "helm"):
        exe = bin_dir / name
        exe.write_text(f"#!{sys.executable}\n{FAKE_TOOL}")
        exe.chmod(0o755)
    # bash (invoke's shell) and git (the build's revision label); nothing else from the host.
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    for name in ("bash", "git"):
        (host_dir / name).symlink_to(shutil.which(name))
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps(
            {
                "engine": True,
                "clusters": [],
                "contexts": [],
                "releases": [],
                "statefulsets": [],
                "namespaces": [],
                "images": ["debian:trixie-slim"],
                "ready": True,
                "fail": [],
            }
        )
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{host_dir}")
    monkeypatch.setenv("CIAB_DOCKER", str(bin_dir / "docker"))
    monkeypatch.setenv("FAKE_STATE", str(state))
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "log.jsonl"))

    def not_vendored(name, arch=None, *, verify_checksum=False):
        raise ArtifactError(f"vendor/{name} is missing: run `invoke vendor`")

    monkeypatch.setattr(cluster, "vendored_binary", not_vendored)
    return Fake(bin_dir, state, tmp_path / "log.jsonl")


@pytest.fixture(scope="module")
def tasks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ciab_tasks_under_test", REPO_ROOT / "tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ctx(tasks) -> Context:
    """A Context configured as `invoke` configures it (collection defaults, then invoke.yaml)."""
    config = Config(project_location=str(REPO_ROOT))
    config.load_collection(tasks.ns.configuration())
    config.load_project()
    return Context(config)


# -- the task list -------------------------------------------------------------------------------


def run_invoke(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=60
    )


def test_invoke_list_shows_every_task():
    result = run_invoke("--list")
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines()[1:] if line.startswith("  ") and line.split()}
    assert set(TASKS) <= listed


@pytest.mark.parametrize("name", TASKS)
def test_every_task_has_a_docstring_and_help_for_each_option(tasks, name):
    body = tasks.ns[name]
    assert (body.__doc__ or "").strip(), f"{name} needs a docstring"
    for argument in body.get_arguments():
        assert argument.help, f"{name} --{argument.name} needs help"


def test_task_help_shows_the_options():
    result = run_invoke("--help", "deploy")
    assert result.returncode == 0, result.stderr
    for option in ("--method", "--profile", "--namespace", "--tag", "--[no-]wait"):
        assert option in result.stdout


def test_missing_prerequisite_exits_69_with_the_hint_through_invoke(fake):
    fake.remove("kind")
    result = run_invoke("cluster", env=os.environ.copy())
    assert result.returncode == cluster.EX_UNAVAILABLE
    assert "- kind: not on PATH; install kind" in result.stderr
    assert "https://kind.sigs.k8s.io/docs/user/quick-start/#installation" in result.stderr


# -- bootstrap -------------------------------------------------------------------------------------

BOOTSTRAP_ORDER = [
    "docker info",
    "docker image inspect debian:trixie-slim",
    "docker build",
    "kind get clusters",
    "kind create cluster --name claude-in-a-box --config",
    "kubectl --context kind-claude-in-a-box wait --for=condition=Ready nodes --all",
    "kind load docker-image claude-in-a-box:dev --name claude-in-a-box",
    "helm --kube-context kind-claude-in-a-box upgrade --install claude-agent",
    "rollout status statefulset/claude-agent",
    "wait --for=condition=Ready pod/claude-agent-0",
]


def test_bootstrap_runs_the_steps_in_order(fake, tasks, ctx, capsys):
    tasks.bootstrap(ctx, source="upstream")
    positions = [fake.index(needle) for needle in BOOTSTRAP_ORDER]
    assert positions == sorted(positions), "\n".join(fake.lines())
    out = capsys.readouterr().out
    assert "==> [1/8] prerequisites" in out
    assert "==> [8/8] next steps" in out
    assert "Claude In A Box is ready: pod claude-agent-0 in namespace claude-agent" in out
    assert "invoke attach" in out


def test_bootstrap_is_idempotent_and_reuses_the_cluster(fake, tasks, ctx, capsys):
    tasks.bootstrap(ctx, source="upstream")
    tasks.bootstrap(ctx, source="upstream")
    assert fake.count("kind create cluster") == 1
    assert fake.count("kind export kubeconfig --name claude-in-a-box") == 1
    assert fake.count("upgrade --install") == 2
    assert "the agent was already running" in capsys.readouterr().out


def test_bootstrap_skips_cluster_creation_when_it_exists(fake, tasks, ctx):
    fake.set(clusters=["claude-in-a-box"], contexts=["kind-claude-in-a-box"])
    tasks.bootstrap(ctx, source="upstream")
    assert fake.count("kind create cluster") == 0
    assert fake.index("kind load docker-image") < fake.index("upgrade --install")


@pytest.mark.parametrize("missing", ["docker", "kind"])
def test_bootstrap_stops_on_a_missing_prerequisite(fake, tasks, ctx, missing):
    fake.remove(missing)
    with pytest.raises(Exit) as excinfo:
        tasks.bootstrap(ctx, source="upstream")
    assert excinfo.value.code == cluster.EX_UNAVAILABLE
    assert cluster.INSTALL_HINTS[missing] in excinfo.value.message
    assert fake.count("build") == 0
    assert fake.count("create cluster") == 0


def test_bootstrap_stops_when_the_docker_engine_is_down(fake, tasks, ctx):
    fake.set(engine=False)
    with pytest.raises(Exit) as excinfo:
        tasks.bootstrap(ctx, source="upstream")
    assert excinfo.value.code == cluster.EX_UNAVAILABLE
    assert "Docker engine is not reachable (Cannot connect to the Docker daemon" in excinfo.value.message


def test_bootstrap_vendors_kubectl_and_helm_when_missing(fake, tasks, ctx, monkeypatch, tmp_path):
    vendored = tmp_path / "vendor"
    vendored.mkdir()
    for name in ("kubectl", "helm"):
        shutil.move(fake.bin_dir / name, vendored / name)
    calls = []

    def fake_vendor(arches, source, log):
        calls.append((arches, source))

    def vendored_binary(name, arch=None, *, verify_checksum=False):
        if not calls:
            raise ArtifactError(f"vendor/{name} is missing")
        return vendored / name

    monkeypatch.setattr(artifacts, "vendor", fake_vendor)
    monkeypatch.setattr(cluster, "vendored_binary", vendored_binary)
    tasks.bootstrap(ctx, source="upstream")
    assert calls == [([artifacts.host_arch()], "upstream")]
    assert fake.count("helm --kube-context kind-claude-in-a-box upgrade --install") == 1


def test_bootstrap_reports_an_agent_that_never_gets_ready(fake, tasks, ctx):
    fake.set(ready=False)
    with pytest.raises(Exit) as excinfo:
        tasks.bootstrap(ctx, source="upstream")
    assert excinfo.value.code == 1
    assert "claude-agent-0 did not become ready within 300s" in excinfo.value.message
    assert fake.count("logs claude-agent-0 --container agent") == 1


def test_a_failing_command_ends_the_task_with_its_exit_code(fake, tasks, ctx):
    fake.set(fail=["kind create cluster"])
    with pytest.raises(Exit) as excinfo:
        tasks.bootstrap(ctx, source="upstream")
    assert excinfo.value.code == 3
    assert "failing on purpose" in excinfo.value.message
    assert fake.count("upgrade --install") == 0


def test_every_kubectl_and_helm_call_names_the_kind_context(fake, tasks, ctx):
    tasks.bootstrap(ctx, source="upstream")
    tasks.status(ctx)
    tasks.teardown(ctx, cluster=True)
    for record in fake.records():
        if record["tool"] == "kubectl" and record["argv"][:2] != ["config", "get-contexts"]:
            assert record["argv"][:2] == ["--context", "kind-claude-in-a-box"], record
        if record["tool"] == "helm":
            assert record["argv"][:2] == ["--kube-context", "kind-claude-in-a-box"], record


# -- deploy ----------------------------------------------------------------------------------------


@pytest.fixture
def with_cluster(fake) -> Fake:
    fake.set(clusters=["claude-in-a-box"], contexts=["kind-claude-in-a-box"])
    return fake


@pytest.mark.parametrize("profile", ["readonly", "operator", "airgapped"])
def test_helm_deploy_uses_the_profile_values_and_the_local_image(with_cluster, tasks, ctx, profile):
    tasks.deploy(ctx, profile=profile, tag="claude-in-a-box:pr-42")
    (upgrade,) = [r["argv"] for r in with_cluster.records() if "upgrade" in r["argv"]]
    values = upgrade[upgrade.index("--values") + 1]
    assert values == str(REPO_ROOT / f"deploy/helm/claude-in-a-box/values-{profile}.yaml")
    assert upgrade[upgrade.index("--namespace") + 1] == "claude-agent"
    assert "image.repository=claude-in-a-box" in upgrade
    assert "image.tag=pr-42" in upgrade
    assert "image.registry=" in upgrade


@pytest.mark.parametrize("profile", ["readonly", "operator", "airgapped"])
def test_kustomize_deploy_applies_the_profile_overlay(with_cluster, tasks, ctx, profile):
    tasks.deploy(ctx, method="kustomize", profile=profile, namespace="sre")
    (apply,) = [r for r in with_cluster.records() if r["tool"] == "kubectl" and "apply" in r["argv"]]
    import yaml

    document = yaml.safe_load(apply["kustomization"])
    root = Path(apply["argv"][apply["argv"].index("--kustomize") + 1])
    (resource,) = document["resources"]
    assert (root / resource).resolve() == (REPO_ROOT / "deploy/raw/overlays" / profile).resolve()
    assert document["namespace"] == "sre"
    assert "image: claude-in-a-box:dev" in document["patches"][0]["patch"]
    assert with_cluster.index("create namespace sre") < with_cluster.index("apply --kustomize")


def test_namespace_comes_from_the_environment(with_cluster, tasks, monkeypatch):
    monkeypatch.setenv("INVOKE_CIAB_NAMESPACE", "from-env")
    config = Config(project_location=str(REPO_ROOT))
    config.load_collection(tasks.ns.configuration())
    config.load_project()
    config.load_shell_env()
    tasks.deploy(Context(config))
    assert with_cluster.count("upgrade --install claude-agent") == 1
    assert with_cluster.count("--namespace from-env --create-namespace") == 1


def test_deploy_needs_the_cluster(fake, tasks, ctx):
    with pytest.raises(Exit) as excinfo:
        tasks.deploy(ctx)
    assert excinfo.value.code == 1
    assert "invoke cluster" in excinfo.value.message
    assert fake.count("upgrade") == 0


def test_deploy_rejects_an_unknown_profile(with_cluster, tasks, ctx):
    with pytest.raises(Exit) as excinfo:
        tasks.deploy(ctx, profile="admin")
    assert excinfo.value.code == cluster.EX_USAGE
    assert with_cluster.records() == []


def test_deploy_does_not_mix_helm_and_kustomize(with_cluster, tasks, ctx):
    tasks.deploy(ctx)
    with pytest.raises(Exit) as excinfo:
        tasks.deploy(ctx, method="kustomize")
    assert "deployed with helm" in excinfo.value.message
    assert "invoke teardown" in excinfo.value.message


# -- teardown, redeploy, status, attach ---------------------------------------------------------


def test_teardown_is_idempotent(with_cluster, tasks, ctx, capsys):
    tasks.deploy(ctx)
    tasks.teardown(ctx)
    tasks.teardown(ctx)
    assert with_cluster.count("uninstall claude-agent") == 1
    assert "nothing deployed as claude-agent in namespace claude-agent" in capsys.readouterr().out


def test_teardown_kustomize(with_cluster, tasks, ctx):
    tasks.deploy(ctx, method="kustomize")
    tasks.teardown(ctx)
    assert with_cluster.count("delete --kustomize") >= 1
    assert with_cluster.count("uninstall") == 0
    assert "claude-agent" not in with_cluster.state["statefulsets"]


def test_teardown_cluster_is_idempotent(with_cluster, tasks, ctx, capsys):
    tasks.deploy(ctx)
    tasks.teardown(ctx, cluster=True)
    tasks.teardown(ctx, cluster=True)
    assert with_cluster.count("kind delete cluster --name claude-in-a-box") == 1
    assert with_cluster.count("uninstall") == 0, "the agent goes with the cluster"
    assert "cluster claude-in-a-box does not exist; nothing to delete" in capsys.readouterr().out
    tasks.teardown(ctx)
    assert "no kubeconfig context kind-claude-in-a-box: nothing deployed to remove" in capsys.readouterr().out


def test_teardown_cluster_with_another_context_removes_the_agent_first(with_cluster, tasks, ctx):
    with_cluster.set(
        contexts=["kind-claude-in-a-box", "staging"], releases=["claude-agent"], statefulsets=["claude-agent"]
    )
    ctx.config.ciab.context = "staging"
    tasks.teardown(ctx, cluster=True)
    assert with_cluster.index("helm --kube-context staging uninstall claude-agent") < with_cluster.index(
        "kind delete cluster"
    )


def test_redeploy_builds_loads_and_restarts(with_cluster, tasks, ctx):
    tasks.deploy(ctx)
    tasks.redeploy(ctx, source="upstream")
    order = ["docker build", "kind load docker-image", "rollout restart statefulset/claude-agent"]
    positions = [with_cluster.index(needle) for needle in order]
    assert positions == sorted(positions)
    assert with_cluster.index("rollout restart") < max(
        i for i, line in enumerate(with_cluster.lines()) if "rollout status" in line
    )


def test_redeploy_needs_a_deployment(with_cluster, tasks, ctx):
    with pytest.raises(Exit) as excinfo:
        tasks.redeploy(ctx, source="upstream")
    assert "not deployed" in excinfo.value.message
    assert with_cluster.count("docker build") == 0


def test_status_exit_code_follows_readiness(with_cluster, tasks, ctx, capsys):
    tasks.deploy(ctx)
    tasks.status(ctx)
    assert "ready    claude-agent-0: yes" in capsys.readouterr().out
    with_cluster.set(ready=False)
    with pytest.raises(Exit) as excinfo:
        tasks.status(ctx)
    assert excinfo.value.code == 1


def test_attach_prints_or_execs_kubectl_attach(with_cluster, tasks, ctx, monkeypatch, capsys):
    expected = [
        str(with_cluster.bin_dir / "kubectl"), "--context", "kind-claude-in-a-box", "--namespace", "claude-agent",
        "attach", "-it", "claude-agent-0", "--container", "agent",
    ]  # fmt: skip
    execs = []
    monkeypatch.setattr(tasks.os, "execvp", lambda file, argv: execs.append(argv))
    tasks.attach(ctx, print_only=True)
    assert execs == []
    assert "attach -it claude-agent-0 --container agent" in capsys.readouterr().out
    monkeypatch.setattr(tasks.sys, "stdin", type("Tty", (), {"isatty": staticmethod(lambda: True)})())
    tasks.attach(ctx)
    assert execs == [expected]


def test_logs(with_cluster, tasks, ctx):
    tasks.logs(ctx, follow=True, tail=20)
    assert with_cluster.count("logs claude-agent-0 --container agent --tail=20 --follow") == 1


# -- image tasks -----------------------------------------------------------------------------------


def test_build_from_vendor_needs_a_complete_vendor_dir(fake, tasks, ctx, monkeypatch):
    monkeypatch.setattr(image, "vendor_complete", lambda arch: False)
    with pytest.raises(Exit) as excinfo:
        tasks.build(ctx, source="vendor")
    assert "invoke vendor" in excinfo.value.message
    assert fake.count("docker build") == 0


def test_build_passes_tag_source_and_base_image(fake, tasks, ctx):
    tasks.build(ctx, tag="claude-in-a-box:x", source="upstream", base_image="debian:trixie-slim")
    (build,) = [r["argv"] for r in fake.records() if r["argv"][:1] == ["build"]]
    assert build[build.index("--tag") + 1] == "claude-in-a-box:x"
    assert "ARTIFACT_SOURCE=upstream" in build
    assert "BASE_IMAGE=debian:trixie-slim" in build


@pytest.mark.parametrize(
    ("arch", "expected"), [("all", ["amd64", "arm64"]), ("arm64", ["arm64"]), ("", [artifacts.host_arch()])]
)
def test_vendor_task(tasks, ctx, monkeypatch, arch, expected):
    calls = []
    monkeypatch.setattr(artifacts, "vendor", lambda arches, source, log: calls.append((arches, source)))
    tasks.vendor(ctx, arch=arch, source="registry")
    assert calls == [(expected, "registry")]


def test_vendor_failure_and_bad_arch(tasks, ctx, monkeypatch):
    def broken(arches, source, log):
        raise ArtifactError("helm-4.1.4-linux-arm64: no package-registry copy is known")

    monkeypatch.setattr(artifacts, "vendor", broken)
    with pytest.raises(Exit, match="no package-registry copy"):
        tasks.vendor(ctx, arch="arm64", source="registry")
    with pytest.raises(Exit) as excinfo:
        tasks.vendor(ctx, arch="s390x")
    assert excinfo.value.code == cluster.EX_USAGE


def test_base_image_present_is_not_rebuilt(fake, tasks, ctx):
    tasks.base_image(ctx)
    assert fake.count("pull") == 0
    assert fake.count("image inspect debian:trixie-slim") == 1
