"""ciab.cluster: settings, prerequisites, command lines and the KIND/Helm/kustomize steps.

The steps run against a recording Shell; the Helm and kustomize command lines are also rendered
for real with the vendored helm and kubectl (offline), so a wrong value key or overlay path fails
here rather than on a cluster.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from ciab import REPO_ROOT, artifacts, cluster
from ciab.artifacts import ArtifactError, load_lock
from ciab.cluster import (
    CALICO_MANIFEST_URL,
    CALICO_VERSION,
    EX_UNAVAILABLE,
    EX_USAGE,
    INSTALL_HINTS,
    KIND_VERSION,
    PROFILES,
    CommandError,
    LocalCluster,
    PreconditionError,
    Settings,
    Tools,
)

pytestmark = pytest.mark.unit

TOOLS = Tools(docker="/x/docker", kind="/x/kind", kubectl="/x/kubectl", helm="/x/helm")
NODE_IMAGE = re.compile(r"kindest/node:v(\d+)\.(\d+)\.(\d+)@sha256:[0-9a-f]{64}")


class FakeShell:
    """Records argv; answers from `responses` (substring of the command line -> stdout or error)."""

    def __init__(self, responses: dict[str, str | CommandError] | None = None) -> None:
        self.responses = responses or {}
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], *, capture: bool = False) -> str:
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        line = " ".join(argv)
        for needle, answer in self.responses.items():
            if needle in line:
                if isinstance(answer, CommandError):
                    raise answer
                return answer if capture else ""
        return ""

    def lines(self) -> list[str]:
        return [" ".join(call) for call in self.calls]

    def ran(self, needle: str) -> bool:
        return any(needle in line for line in self.lines())


def make(responses: dict | None = None, **settings) -> tuple[LocalCluster, FakeShell]:
    shell = FakeShell(responses)
    return LocalCluster(Settings(**settings), TOOLS, shell, log=lambda _: None), shell


# -- settings ------------------------------------------------------------------------------------


def test_settings_defaults_and_derived_names():
    settings = Settings()
    assert settings.kube_context == "kind-claude-in-a-box"
    assert settings.pod == "claude-agent-0"
    assert settings.container == "agent"
    assert Settings(context="prod").kube_context == "prod"
    assert settings.values_file("operator") == REPO_ROOT / "deploy/helm/claude-in-a-box/values-operator.yaml"
    assert settings.values_file("default") is None
    assert settings.overlay_dir("airgapped") == REPO_ROOT / "deploy/raw/overlays/airgapped"
    assert settings.overlay_dir("default") == REPO_ROOT / "deploy/raw/base"


def test_settings_reject_unknown_keys_and_values():
    with pytest.raises(PreconditionError, match="unknown ciab setting") as excinfo:
        Settings.from_mapping({"namespase": "x"})
    assert excinfo.value.code == EX_USAGE
    with pytest.raises(PreconditionError, match="unknown profile 'prod'"):
        Settings().with_options(profile="prod")
    with pytest.raises(PreconditionError, match="unknown method"):
        Settings.from_mapping({"method": "kubectl"})


def test_empty_options_keep_the_settings():
    settings = Settings(namespace="sre").with_options(namespace="", profile="operator", image=None)
    assert (settings.namespace, settings.profile, settings.image) == ("sre", "operator", "claude-in-a-box:dev")


def test_invoke_yaml_documents_exactly_the_defaults(monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("INVOKE_")]:
        monkeypatch.delenv(name)
    document = yaml.safe_load((REPO_ROOT / "invoke.yaml").read_text())
    assert Settings.from_mapping(document["ciab"]) == Settings()
    assert document["run"]["echo"] is True
    assert cluster.invoke_settings() == Settings()


def test_environment_overrides_invoke_yaml(monkeypatch):
    monkeypatch.setenv("INVOKE_CIAB_NAMESPACE", "sre")
    monkeypatch.setenv("INVOKE_CIAB_TIMEOUT", "42")
    settings = cluster.invoke_settings()
    assert (settings.namespace, settings.timeout) == ("sre", 42)


def test_test_settings_use_the_calico_cluster():
    settings = Settings(context="elsewhere").for_tests("claude-in-a-box:test")
    assert settings.cluster == "claude-in-a-box-test"
    assert settings.kind_config == "deploy/kind/test.yaml"
    assert settings.kube_context == "kind-claude-in-a-box-test"
    assert settings.image == "claude-in-a-box:test"


# -- KIND configs ----------------------------------------------------------------------------------


def kind_config(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "deploy/kind" / name).read_text())


@pytest.mark.parametrize("name", ["dev.yaml", "test.yaml"])
def test_kind_config_has_one_control_plane_two_workers_pinned(name):
    config = kind_config(name)
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker", "worker"]
    images = {node["image"] for node in config["nodes"]}
    assert len(images) == 1, f"{name}: every node runs the same image"
    assert NODE_IMAGE.fullmatch(images.pop()), f"{name}: node image pinned by version and digest"


def test_dev_and_test_clusters_run_the_same_kubernetes():
    assert kind_config("dev.yaml")["nodes"] == kind_config("test.yaml")["nodes"]


def test_test_cluster_replaces_the_cni_and_says_which_calico():
    config = kind_config("test.yaml")
    assert config["networking"] == {"disableDefaultCNI": True, "podSubnet": "192.168.0.0/16"}
    assert cluster.needs_calico(REPO_ROOT / "deploy/kind/test.yaml")
    assert not cluster.needs_calico(REPO_ROOT / "deploy/kind/dev.yaml")
    text = (REPO_ROOT / "deploy/kind/test.yaml").read_text()
    assert f"Calico {CALICO_VERSION}" in text
    assert CALICO_MANIFEST_URL.endswith(f"/calico/{CALICO_VERSION}/manifests/calico.yaml")


def test_node_image_matches_the_pinned_kind_and_kubectl():
    dev = (REPO_ROOT / "deploy/kind/dev.yaml").read_text()
    assert f"kind {KIND_VERSION}" in dev
    major, minor, _ = (int(x) for x in NODE_IMAGE.search(dev).groups())
    (kubectl,) = {a.version for a in load_lock() if a.name == "kubectl"}
    k_major, k_minor, _ = (int(x) for x in kubectl.split("."))
    assert major == k_major
    assert abs(minor - k_minor) <= 1, "kubectl supports one minor version of skew with the API server"


# -- prerequisites -----------------------------------------------------------------------------


@pytest.fixture
def toolbox(tmp_path, monkeypatch):
    """Fake executables; PATH holds only them. A docker whose `info` fails when told to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("kind", "kubectl", "helm"):
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "docker").write_text(
        '#!/bin/sh\n[ -e "${0%/*}/engine-down" ] && { echo "Cannot connect to the Docker daemon" >&2; exit 1; }\n'
        "echo 27.0.1\n"
    )
    for exe in bin_dir.iterdir():
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("CIAB_DOCKER", str(bin_dir / "docker"))

    def not_vendored(name, arch=None, *, verify_checksum=False):
        raise ArtifactError(f"vendor/{name} is missing: run `invoke vendor`")

    monkeypatch.setattr(cluster, "vendored_binary", not_vendored)
    return bin_dir


def test_find_tools_resolves_everything(toolbox):
    tools = cluster.find_tools(cluster.TOOLS, log=lambda _: None)
    assert tools == Tools(*(str(toolbox / name) for name in cluster.TOOLS))


@pytest.mark.parametrize("missing", ["docker", "kind", "kubectl", "helm"])
def test_missing_tool_is_named_with_its_install_hint(toolbox, missing):
    (toolbox / missing).unlink()
    with pytest.raises(PreconditionError) as excinfo:
        cluster.find_tools(cluster.TOOLS, log=lambda _: None)
    assert excinfo.value.code == EX_UNAVAILABLE
    message = str(excinfo.value)
    assert f"- {missing}:" in message
    assert INSTALL_HINTS[missing] in message
    assert message.count("\n  - ") == 1, "only the missing tool is listed"


def test_all_missing_tools_are_listed_at_once(toolbox):
    (toolbox / "kind").unlink()
    (toolbox / "helm").unlink()
    with pytest.raises(PreconditionError) as excinfo:
        cluster.find_tools(cluster.TOOLS, log=lambda _: None)
    assert "- kind:" in str(excinfo.value)
    assert "- helm:" in str(excinfo.value)


def test_unreachable_docker_engine_is_a_missing_prerequisite(toolbox):
    (toolbox / "engine-down").touch()
    with pytest.raises(PreconditionError, match="Docker engine is not reachable") as excinfo:
        cluster.find_tools(["docker"], log=lambda _: None)
    assert excinfo.value.code == EX_UNAVAILABLE
    assert "Cannot connect to the Docker daemon" in str(excinfo.value)


def test_kubectl_and_helm_fall_back_to_the_vendored_copies(toolbox, monkeypatch, tmp_path):
    (toolbox / "kubectl").unlink()
    vendored = tmp_path / "kubectl-1.37.1-linux-amd64"
    monkeypatch.setattr(cluster, "vendored_binary", lambda name, arch=None, *, verify_checksum=False: vendored)
    assert cluster.locate("kubectl") == (str(vendored), "vendored, checksum verified")
    assert cluster.missing_tools(["kubectl", "kind"]) == []


def test_vendored_copy_must_match_the_lock(tmp_path, monkeypatch):
    (tmp_path / "kubectl-1.37.1-linux-amd64").write_bytes(b"not kubectl")
    monkeypatch.setattr(artifacts, "VENDOR_DIR", tmp_path)
    with pytest.raises(ArtifactError, match="does not match the lock"):
        artifacts.vendored_binary("kubectl", "amd64", verify_checksum=True)


def test_kind_is_never_vendored(toolbox):
    (toolbox / "kind").unlink()
    path, why = cluster.locate("kind")
    assert path is None
    assert "invoke vendor" not in why


# -- command lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("claude-in-a-box:dev", ("", "claude-in-a-box", "dev")),
        ("claude-in-a-box", ("", "claude-in-a-box", "latest")),
        ("team/claude-in-a-box:1.0", ("", "team/claude-in-a-box", "1.0")),
        ("localhost:5000/claude-in-a-box:dev", ("localhost:5000", "claude-in-a-box", "dev")),
        ("registry.example/sre/claude-in-a-box:0.1.0", ("registry.example", "sre/claude-in-a-box", "0.1.0")),
    ],
)
def test_split_image(image, expected):
    assert cluster.split_image(image) == expected


def test_split_image_refuses_digests():
    with pytest.raises(PreconditionError, match="digest"):
        cluster.split_image("claude-in-a-box@sha256:" + "0" * 64)


@pytest.mark.parametrize("profile", ["readonly", "operator", "airgapped"])
def test_helm_values_pick_the_profile_file_and_the_local_image(profile):
    args = cluster.helm_values_args(Settings(), profile, "claude-in-a-box:test")
    assert args[:2] == ["--values", str(REPO_ROOT / f"deploy/helm/claude-in-a-box/values-{profile}.yaml")]
    pairs = [args[i + 1] for i, arg in enumerate(args) if arg == "--set-string"]
    assert pairs == [
        "image.registry=",
        "image.repository=claude-in-a-box",
        "image.tag=test",
        "image.digest=",
        "image.pullPolicy=IfNotPresent",
    ]


def test_default_profile_uses_the_charts_own_values():
    assert "--values" not in cluster.helm_values_args(Settings(), "default", "claude-in-a-box:dev")


def test_kustomization_wraps_the_overlay(tmp_path):
    document = cluster.kustomization_document(Settings(namespace="sre"), "operator", "claude-in-a-box:dev", tmp_path)
    (resource,) = document["resources"]
    assert (tmp_path / resource).resolve() == (REPO_ROOT / "deploy/raw/overlays/operator").resolve()
    assert document["namespace"] == "sre"
    (patch,) = document["patches"]
    assert patch["target"] == {"kind": "StatefulSet", "name": "claude-agent"}
    containers = yaml.safe_load(patch["patch"])["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "agent", "image": "claude-in-a-box:dev", "imagePullPolicy": "IfNotPresent"}]
    assert "patches" not in cluster.kustomization_document(Settings(), "operator", None, tmp_path)


def test_kustomization_needs_an_existing_overlay(tmp_path):
    with (
        pytest.raises(PreconditionError, match="no kustomization for profile"),
        cluster.kustomization(Settings(overlays=str(tmp_path)), "operator", None),
    ):
        pass


def statefulset(documents: list[dict]) -> dict:
    (found,) = [d for d in documents if d and d["kind"] == "StatefulSet"]
    return found


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_render_runs_the_local_image(helm_bin, profile):
    """The real chart accepts the values (its schema included) and runs the image just built."""
    settings = Settings()
    result = subprocess.run(
        [
            helm_bin, "template", settings.release, settings.chart_dir, "--namespace", settings.namespace,
            *cluster.helm_values_args(settings, profile, "claude-in-a-box:dev"),
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    sts = statefulset(list(yaml.safe_load_all(result.stdout)))
    assert sts["metadata"]["name"] == "claude-agent"
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("agent", "claude-in-a-box:dev")


@pytest.mark.parametrize("profile", PROFILES)
def test_kustomize_render_runs_the_local_image_in_the_namespace(kubectl_bin, profile):
    settings = Settings(namespace="sre")
    with cluster.kustomization(settings, profile, "claude-in-a-box:dev") as root:
        result = subprocess.run([kubectl_bin, "kustomize", root], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    documents = list(yaml.safe_load_all(result.stdout))
    sts = statefulset(documents)
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    assert (container["name"], container["image"]) == ("agent", "claude-in-a-box:dev")
    namespaced = [d for d in documents if not d["kind"].startswith("Cluster")]
    assert {d["metadata"]["namespace"] for d in namespaced} == {"sre"}
    subjects = [s for d in documents if d["kind"].endswith("Binding") for s in d["subjects"]]
    assert subjects
    assert {s["namespace"] for s in subjects} == {"sre"}


# -- steps ---------------------------------------------------------------------------------------


def test_existing_cluster_is_reused():
    local, shell = make({"get clusters": "other\nclaude-in-a-box\n"})
    assert local.ensure_cluster() is False
    assert not shell.ran("create cluster")
    assert shell.ran("/x/kind export kubeconfig --name claude-in-a-box")
    assert shell.ran("wait --for=condition=Ready nodes --all --timeout=300s")


def test_missing_cluster_is_created_from_the_dev_config():
    local, shell = make({"get clusters": "", "kind version": f"kind {KIND_VERSION} go1.25 linux/amd64"})
    assert local.ensure_cluster() is True
    create = " ".join(["/x/kind", "create", "cluster", "--name", "claude-in-a-box", "--config"])
    assert shell.ran(f"{create} {REPO_ROOT / 'deploy/kind/dev.yaml'}")
    assert not shell.ran("calico")


def test_test_cluster_gets_calico():
    shell = FakeShell({"get clusters": ""})
    settings = Settings().for_tests("claude-in-a-box:test")
    LocalCluster(settings, TOOLS, shell, log=lambda _: None).ensure_cluster()
    lines = shell.lines()
    create = next(i for i, line in enumerate(lines) if "create cluster --name claude-in-a-box-test" in line)
    apply = next(i for i, line in enumerate(lines) if CALICO_MANIFEST_URL in line)
    ready = next(i for i, line in enumerate(lines) if "condition=Ready nodes" in line)
    assert create < apply < ready
    assert "--server-side" in lines[apply]
    assert shell.ran("--context kind-claude-in-a-box-test --namespace kube-system rollout status daemonset/calico-node")


def test_helm_deploy_command():
    local, shell = make({"helm": ""})
    local.deploy("operator", "helm", "claude-in-a-box:dev")
    (upgrade,) = [call for call in shell.calls if "upgrade" in call]
    assert upgrade[:6] == ["/x/helm", "--kube-context", "kind-claude-in-a-box", "upgrade", "--install", "claude-agent"]
    assert upgrade[6] == str(REPO_ROOT / "deploy/helm/claude-in-a-box")
    assert upgrade[7:10] == ["--namespace", "claude-agent", "--create-namespace"]
    assert str(REPO_ROOT / "deploy/helm/claude-in-a-box/values-operator.yaml") in upgrade


def test_kustomize_deploy_creates_the_namespace_and_applies():
    local, shell = make({"get namespace": ""})
    local.deploy("readonly", "kustomize", "claude-in-a-box:dev")
    lines = shell.lines()
    assert any(line.endswith("create namespace claude-agent") for line in lines)
    (apply,) = [call for call in shell.calls if "apply" in call]
    assert apply[:4] == ["/x/kubectl", "--context", "kind-claude-in-a-box", "apply"]
    assert apply[4] == "--kustomize"


@pytest.mark.parametrize(("installed", "method"), [("helm", "kustomize"), ("kustomize", "helm")])
def test_deploy_refuses_to_mix_methods(installed, method):
    answers = {"helm --kube-context kind-claude-in-a-box list": "claude-agent\n" if installed == "helm" else ""}
    answers["get statefulset claude-agent"] = "statefulset.apps/claude-agent"
    local, shell = make(answers)
    with pytest.raises(PreconditionError, match=f"deployed with {installed}.*invoke teardown"):
        local.deploy("readonly", method, "claude-in-a-box:dev")
    assert not shell.ran(" upgrade ")
    assert not shell.ran(" apply ")


def test_installed_method_without_helm_reads_the_managed_by_label():
    shell = FakeShell({"--output=jsonpath": "Helm", "get statefulset": "statefulset.apps/claude-agent"})
    local = LocalCluster(Settings(), Tools(kubectl="/x/kubectl"), shell, log=lambda _: None)
    assert local.installed_method() == "helm"
    assert not shell.ran("/x/helm")
    shell.responses["--output=jsonpath"] = "kustomize"
    assert local.installed_method() == "kustomize"
    shell.responses = {}
    assert local.installed_method() is None


def test_deploy_needs_the_profile_files(tmp_path):
    (tmp_path / "Chart.yaml").write_text("name: x\n")
    local, _ = make(chart=str(tmp_path))
    with pytest.raises(PreconditionError, match="no values file"):
        local.deploy("operator", "helm", "claude-in-a-box:dev")
    local, _ = make(chart=str(tmp_path / "absent"))
    with pytest.raises(PreconditionError, match="no Helm chart"):
        local.deploy("operator", "helm", "claude-in-a-box:dev")


def test_teardown_of_nothing_succeeds_without_deleting():
    local, shell = make()
    assert local.teardown() is False
    assert not shell.ran("uninstall")
    assert not shell.ran(" delete ")


def test_teardown_helm_release():
    local, shell = make({" list ": "claude-agent\n"})
    assert local.teardown() is True
    assert shell.ran("/x/helm --kube-context kind-claude-in-a-box uninstall claude-agent --namespace claude-agent")


def test_teardown_kustomize_deletes_with_every_overlay():
    local, shell = make({"get statefulset": "statefulset.apps/claude-agent\n"})
    assert local.teardown() is True
    deletes = [call for call in shell.calls if "delete" in call]
    assert len(deletes) == len(PROFILES)
    assert all("--ignore-not-found" in call and "--kustomize" in call for call in deletes)


def test_failed_wait_prints_diagnostics_and_says_so():
    failure = CommandError(["kubectl", "wait"], 1, "timed out waiting for the condition")
    local, shell = make({"wait --for=condition=Ready pod/claude-agent-0": failure})
    with pytest.raises(PreconditionError, match="did not become ready within 300s"):
        local.wait_ready()
    assert shell.ran("get events")
    assert shell.ran("logs claude-agent-0 --container agent --tail=40")


def test_every_cluster_command_names_the_context():
    """Nothing may act on whatever the user's current context is."""
    local, shell = make({" list ": "claude-agent\n", "get clusters": "claude-in-a-box"})
    local.ensure_cluster()
    local.deploy("readonly", "helm", "claude-in-a-box:dev")
    local.wait_ready()
    local.status()
    local.teardown()
    for call in shell.calls:
        if call[0] == "/x/kubectl" and call[1:3] != ["config", "get-contexts"]:
            assert call[1:3] == ["--context", "kind-claude-in-a-box"], call
        if call[0] == "/x/helm":
            assert call[1:3] == ["--kube-context", "kind-claude-in-a-box"], call


def test_status_reports_readiness():
    answers = {
        "get nodes": "a   Ready   control-plane\nb   Ready   <none>\nc   NotReady   <none>\n",
        " list ": "claude-agent\n",
        "jsonpath": "True",
    }
    messages: list[str] = []
    shell = FakeShell(answers)
    assert LocalCluster(Settings(), TOOLS, shell, log=messages.append).status() is True
    assert "2/3 nodes ready" in messages[0]
    assert messages[-1] == "ready    claude-agent-0: yes"
    answers["jsonpath"] = "False"
    assert LocalCluster(Settings(), TOOLS, shell, log=messages.append).status() is False


def test_attach_and_logs_commands():
    local, _ = make()
    assert local.attach_argv() == [
        "/x/kubectl", "--context", "kind-claude-in-a-box", "--namespace", "claude-agent",
        "attach", "-it", "claude-agent-0", "--container", "agent",
    ]  # fmt: skip
    assert local.logs_argv(follow=True, tail=5, previous=True)[-5:] == [
        "--container", "agent", "--tail=5", "--follow", "--previous",
    ]  # fmt: skip


# -- base image --------------------------------------------------------------------------------


@pytest.fixture
def base_image_env(monkeypatch):
    built: list[tuple] = []
    present: set[str] = set()
    monkeypatch.setattr("ciab.image.image_exists", lambda tag: tag in present)
    monkeypatch.setattr("ciab.baseimage.build_base_image", lambda tag, **kw: built.append((tag, kw["suite"])))
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 0)
    return present, built


def test_present_base_image_is_left_alone(base_image_env):
    present, built = base_image_env
    present.add("debian:trixie-slim")
    shell = FakeShell()
    assert cluster.ensure_base_image("debian:trixie-slim", "docker", shell, log=lambda _: None) == "present"
    assert shell.calls == []
    assert built == []


def test_base_image_is_pulled_when_possible(base_image_env):
    shell = FakeShell()
    assert cluster.ensure_base_image("debian:trixie-slim", "docker", shell, log=lambda _: None) == "pulled"
    assert shell.calls == [["docker", "pull", "debian:trixie-slim"]]
    assert base_image_env[1] == []


def test_unpullable_debian_base_is_built_with_debootstrap(base_image_env):
    shell = FakeShell({"pull": CommandError(["docker", "pull"], 1, "dial tcp: lookup registry: no such host")})
    assert cluster.ensure_base_image("debian:trixie-slim", "docker", shell, log=lambda _: None) == "built"
    assert base_image_env[1] == [("debian:trixie-slim", "trixie")]


def test_no_pull_goes_straight_to_the_build(base_image_env):
    shell = FakeShell()
    assert cluster.ensure_base_image("debian:trixie-slim", "docker", shell, pull=False, log=lambda _: None) == "built"
    assert shell.calls == []


def test_other_unpullable_base_images_cannot_be_built(base_image_env):
    shell = FakeShell({"pull": CommandError(["docker", "pull"], 1, "denied")})
    with pytest.raises(PreconditionError, match="only debian:<suite>-slim can be built"):
        cluster.ensure_base_image("ubuntu:24.04", "docker", shell, log=lambda _: None)


def test_standin_build_needs_root(base_image_env, monkeypatch):
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    with pytest.raises(PreconditionError, match="needs root"):
        cluster.ensure_base_image("debian:trixie-slim", "docker", FakeShell(), pull=False, log=lambda _: None)


def test_command_error_message_carries_the_command_and_stderr():
    error = CommandError(["kubectl", "get", "pods"], 1, "error: the server doesn't have a resource type\n")
    assert str(error) == "`kubectl get pods` failed (exit 1):\nerror: the server doesn't have a resource type"
    assert error.code == 1


def test_subprocess_shell_runs_and_raises(capsys):
    shell = cluster.subprocess_shell()
    assert shell(["sh", "-c", "echo hi"], capture=True) == "hi\n"
    with pytest.raises(CommandError) as excinfo:
        shell(["sh", "-c", "echo broken >&2; exit 7"])
    assert excinfo.value.code == 7
    assert "broken" in str(excinfo.value)
    assert "+ sh -c 'echo hi'" in capsys.readouterr().out


def test_tools_need_names_the_missing_tool():
    with pytest.raises(PreconditionError, match="helm is needed here") as excinfo:
        Tools(kubectl="/x/kubectl").need("helm")
    assert excinfo.value.code == EX_UNAVAILABLE


def test_repository_paths_exist():
    settings = Settings()
    assert (settings.chart_dir / "Chart.yaml").is_file()
    for profile in PROFILES:
        values = settings.values_file(profile)
        assert values is None or values.is_file(), profile
        assert (settings.overlay_dir(profile) / "kustomization.yaml").is_file(), profile
    assert Path(settings.kind_config_path).is_file()
