"""Pod security and the container contract, on every pod template of every profile and overlay.

The restricted Pod Security Standard (baseline + restricted controls) is checked with our own
assertions on the parsed objects, then the stricter defaults of this project and the contract
with the image (user, writable paths, probes, auth files, terminal).
"""

from __future__ import annotations

import pytest

from .manifests import ALL_SOURCES, WORKLOAD_KINDS, containers, of_kind, one, pod_spec, ref

pytestmark = pytest.mark.chart

# Pod Security Standards, restricted profile.
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
ALLOWED_SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

UID = GID = 10000
AUTH_DIR = "/etc/claude-in-a-box/auth"
WRITABLE_MOUNTS = {"/home/agent/.claude": "claude-state", "/tmp": "tmp", "/workspace": "workspace"}


def restricted_violations(spec: dict) -> list[str]:
    """Violations of the restricted Pod Security Standard in one pod spec (empty: compliant)."""
    problems = []
    pod_sc = spec.get("securityContext", {})
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"{field} is set")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            problems.append(f"volume {volume['name']} uses {sorted(kinds - RESTRICTED_VOLUME_TYPES)}")
    for sysctl in pod_sc.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"unsafe sysctl {sysctl['name']}")
    for container in containers(spec):
        name = f"container {container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("privileged"):
            problems.append(f"{name} is privileged")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            problems.append(f"{name} does not drop ALL capabilities")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name} adds capabilities {caps['add']}")
        if not sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot", False)):
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{name} runs as UID 0")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is {seccomp}, not RuntimeDefault/Localhost")
        if sc.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount is {sc['procMount']}")
        apparmor = sc.get("appArmorProfile", pod_sc.get("appArmorProfile", {})).get("type")
        if apparmor == "Unconfined":
            problems.append(f"{name}: AppArmor is Unconfined")
        selinux = {**pod_sc.get("seLinuxOptions", {}), **sc.get("seLinuxOptions", {})}
        if selinux.get("type", "") not in ALLOWED_SELINUX_TYPES or {"user", "role"} & set(selinux):
            problems.append(f"{name}: SELinux options {selinux} are not allowed")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{name} uses hostPort {port['hostPort']}")
    return problems


def pod_specs(objects: list[dict]) -> list[tuple[str, dict]]:
    return [(ref(obj), pod_spec(obj)) for obj in of_kind(objects, *WORKLOAD_KINDS)]


@pytest.fixture(params=ALL_SOURCES, ids=lambda s: s.id)
def source_objects(request, renders):
    source = request.param
    objects = renders(source.id).objects
    assert pod_specs(objects), f"{source.id} has no pod template"
    return source, objects


def test_restricted_pod_security_standard(source_objects):
    _, objects = source_objects
    problems = [f"{where}: {problem}" for where, spec in pod_specs(objects) for problem in restricted_violations(spec)]
    assert not problems, "\n".join(problems)


def test_restricted_check_catches_a_bad_pod():
    """The check itself can fail."""
    bad = {
        "hostNetwork": True,
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "securityContext": {"privileged": True, "capabilities": {"add": ["SYS_ADMIN"]}}}],
    }
    problems = restricted_violations(bad)
    assert any("hostNetwork" in p for p in problems)
    assert any("hostPath" in p for p in problems)
    assert any("privileged" in p for p in problems)
    assert any("SYS_ADMIN" in p for p in problems)
    assert any("runAsNonRoot" in p for p in problems)


def test_secure_defaults(source_objects):
    """Stricter than restricted: user 10000:10000, read-only root filesystem, no host access."""
    _, objects = source_objects
    for where, spec in pod_specs(objects):
        pod_sc = spec["securityContext"]
        assert (pod_sc["runAsUser"], pod_sc["runAsGroup"], pod_sc["fsGroup"]) == (UID, GID, GID), where
        assert pod_sc["runAsNonRoot"] is True, where
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, where
        for container in containers(spec):
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            limits = container["resources"]["limits"]
            assert {"cpu", "memory"} <= set(limits), f"{where}: limits {limits}"


def test_writable_paths_are_explicit(source_objects):
    """Read-only root: the only writable mounts are the state volume, /tmp and /workspace."""
    _, objects = source_objects
    for where, spec in pod_specs(objects):
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        (container,) = spec["containers"]
        mounts = {mount["mountPath"]: mount for mount in container["volumeMounts"]}
        writable = {path: m["name"] for path, m in mounts.items() if not m.get("readOnly")}
        assert writable == WRITABLE_MOUNTS, where
        assert mounts[AUTH_DIR]["readOnly"] is True, where
        assert set(volumes["tmp"]) == {"name", "emptyDir"}, where
        assert set(volumes["workspace"]) == {"name", "emptyDir"}, where


def test_container_contract(source_objects):
    """What the image expects: its entrypoint, a terminal, exec probes, auth from files."""
    source, objects = source_objects
    sts = one(objects, "StatefulSet")
    spec = pod_spec(sts)
    (container,) = spec["containers"]
    assert sts["spec"]["replicas"] == 1
    assert "command" not in container, "the image's ENTRYPOINT (tini) must run"
    assert "args" not in container
    assert container["stdin"] is True
    assert container["tty"] is True
    assert container["image"].rsplit("/", 1)[-1].startswith("claude-in-a-box")
    env = {var["name"]: var for var in container["env"]}
    assert env["CLAUDE_MODE"]["value"] in {"interactive", "remote-control", "headless"}
    assert env["CLAUDE_CODE_OAUTH_TOKEN_FILE"] == {
        "name": "CLAUDE_CODE_OAUTH_TOKEN_FILE",
        "value": f"{AUTH_DIR}/CLAUDE_CODE_OAUTH_TOKEN",
    }
    assert env["ANTHROPIC_API_KEY_FILE"] == {"name": "ANTHROPIC_API_KEY_FILE", "value": f"{AUTH_DIR}/ANTHROPIC_API_KEY"}
    for probe, script in (("livenessProbe", "liveness"), ("readinessProbe", "readiness")):
        if probe in container:  # a scenario may turn probes off
            assert container[probe]["exec"] == {"command": [f"/usr/local/bin/{script}"]}
            assert container[probe]["periodSeconds"] >= 5
        else:
            assert source.id == "helm-proxy-custom", f"{source.id}: {probe} missing"
    # The agent reads the cluster with its token; the ServiceAccount itself does not hand one out.
    assert spec["automountServiceAccountToken"] is True
    for account in of_kind(objects, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is False, ref(account)


def test_state_volume(source_objects):
    """The Claude Code state lives on a claim template that survives deletes and scale-down."""
    _, objects = source_objects
    sts = one(objects, "StatefulSet")
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "claude-state"
    assert claim["spec"]["resources"]["requests"]["storage"]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    # Immutable after creation: only labels that never change between releases.
    assert set(claim["metadata"].get("labels", {})) <= {
        "app.kubernetes.io/name",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/part-of",
    }


def test_no_plaintext_credentials(source_objects):
    """Credentials come only from the mounted Secret: no Secret object, no secret env var."""
    _, objects = source_objects
    assert not of_kind(objects, "Secret")
    for where, spec in pod_specs(objects):
        for container in containers(spec):
            for var in container.get("env", []):
                assert "secretKeyRef" not in var.get("valueFrom", {}), f"{where}: {var['name']}"
                assert var["name"] not in {"CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"}
            assert not container.get("envFrom"), where
        (auth,) = [volume for volume in spec["volumes"] if volume["name"] == "auth"]
        assert auth["secret"]["optional"] is True
        assert {item["path"] for item in auth["secret"]["items"]} == {"CLAUDE_CODE_OAUTH_TOKEN", "ANTHROPIC_API_KEY"}
        assert auth["secret"]["defaultMode"] == 0o440
