"""values.yaml and values.schema.json: documented, strict, and wrong values fail `helm template`
with the message the user sees. Plus what the values change in the render."""

from __future__ import annotations

import json

import pytest
import yaml

from .manifests import CHART_DIR, RenderError, of_kind, one, pod_spec

pytestmark = pytest.mark.chart

SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())
SCHEMA_ERROR = "values don't meet the specifications of the schema(s)"

# (--set assignments, what the user reads in helm's error)
BAD_VALUES = {
    "wrong claudeMode": (["claudeMode=batch"], "at '/claudeMode': value must be one of 'interactive', 'remote-control', 'headless'"),
    "typo in a top-level key": (["claudMode=headless"], "additional properties 'claudMode' not allowed"),
    "typo in a nested key": (["persistence.sise=5Gi"], "at '/persistence': additional properties 'sise' not allowed"),
    "negative volume size": (["persistence.size=-1Gi"], "at '/persistence/size': '-1Gi' does not match pattern"),
    "size without a number": (["persistence.size=big"], "at '/persistence/size': 'big' does not match pattern"),
    "negative cpu limit": (["resources.limits.cpu=-1"], "at '/resources/limits/cpu': minimum: got -1, want 0"),
    "headless without a prompt": (["claudeMode=headless"], "at '/claudePrompt': minLength: got 0, want 1"),
    "plaintext API key": (["auth.apiKey=sk-ant-oops"], "at '/auth': additional properties 'apiKey' not allowed"),
    "unknown RBAC tier": (["rbac.tier=admin"], "at '/rbac/tier': value must be one of 'readonly', 'operator'"),
    "unknown RBAC scope": (["rbac.scope=global"], "at '/rbac/scope': value must be one of 'cluster', 'namespace'"),
    "namespaces with cluster scope": (["rbac.namespaces[0]=shop"], "at '/rbac/namespaces': maxItems: got 1, want 0"),
    "CIDR without a prefix length": (
        ["networkPolicy.apiServer.cidrs[0]=10.0.0.1"],
        "at '/networkPolicy/apiServer/cidrs/0': '10.0.0.1' does not match pattern",
    ),
    "port out of range": (["networkPolicy.https.ports[0]=70000"], "at '/networkPolicy/https/ports/0': maximum: got 70,000, want 65,535"),
    "probe period of zero": (["livenessProbe.periodSeconds=0"], "at '/livenessProbe/periodSeconds': minimum: got 0, want 1"),
    "string where a number belongs": (
        ["terminationGracePeriodSeconds=soon"],
        "at '/terminationGracePeriodSeconds': got string, want integer",
    ),
    "bad image digest": (["image.digest=latest"], "at '/image/digest': 'latest' does not match pattern"),
    "pod label overriding a selector label": (
        ["podLabels.app\\.kubernetes\\.io/instance=other"],
        "invalid propertyName 'app.kubernetes.io/instance'",
    ),
}  # fmt: skip


@pytest.mark.parametrize(("assignments", "message"), BAD_VALUES.values(), ids=BAD_VALUES.keys())
def test_bad_values_fail_with_a_readable_error(assignments, message, render):
    with pytest.raises(RenderError) as failure:
        render(set_values=tuple(assignments))
    assert SCHEMA_ERROR in failure.value.stderr
    assert message in failure.value.stderr, failure.value.stderr


def test_schema_is_strict_everywhere():
    """Every object the chart defines rejects unknown keys (a typo fails at install)."""
    loose = []

    def walk(node, path):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
                loose.append(path or "/")
            for key, child in node.items():
                walk(child, f"{path}/{key}")
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, f"{path}/{index}")

    walk(SCHEMA, "")
    assert SCHEMA["additionalProperties"] is False
    assert not loose, f"objects without additionalProperties: false: {loose}"


def _leaf_paths(values, prefix=()):
    """Key paths (tuples) to every scalar, list or empty mapping."""
    if isinstance(values, dict) and values:
        for key, child in values.items():
            yield from _leaf_paths(child, (*prefix, key))
    else:
        yield prefix


def _schema_for(path: tuple[str, ...]) -> dict:
    """The schema node that validates the value at `path` (KeyError if the schema has none)."""
    node = SCHEMA
    for key in path:
        if "$ref" in node:
            node = {**SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[-1]], **node}
        node = node["properties"][key] if key in node.get("properties", {}) else node["additionalProperties"]
        assert node is not False, f"{'.'.join(path)} is rejected by the schema"
    return node


def test_every_value_is_in_the_schema():
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    for path in _leaf_paths(values):
        assert _schema_for(path), path


# Kubernetes structures documented as a whole by the comment above their key.
DOCUMENTED_AS_A_WHOLE = {"resources", "podSecurityContext", "securityContext", "namespaceSelector", "podSelector",
                         "retentionPolicy"}  # fmt: skip


def test_every_value_is_documented():
    """values.yaml is the documentation: a comment right above every key (groups of keys excepted)."""
    text = (CHART_DIR / "values.yaml").read_text()
    lines = text.splitlines()
    undocumented = []

    def walk(mapping: yaml.MappingNode, path: str) -> None:
        for key_node, value_node in mapping.value:
            key = f"{path}.{key_node.value}" if path else key_node.value
            if (
                isinstance(value_node, yaml.MappingNode)
                and value_node.value
                and key_node.value not in DOCUMENTED_AS_A_WHOLE
            ):
                walk(value_node, key)  # a group: its keys carry the comments
            elif not lines[key_node.start_mark.line - 1].strip().startswith("#"):
                undocumented.append(f"values.yaml:{key_node.start_mark.line + 1}: {key}")

    walk(yaml.compose(text), "")
    assert not undocumented, "keys without a comment:\n" + "\n".join(undocumented)


@pytest.mark.parametrize("profile", ["values-readonly.yaml", "values-operator.yaml", "values-airgapped.yaml"])
def test_profiles_only_set_known_values(profile):
    """Profiles are overlays on values.yaml: every key they set exists there."""
    defaults = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    overrides = yaml.safe_load((CHART_DIR / profile).read_text())
    for path in _leaf_paths(overrides):
        node = defaults
        for key in path:
            assert isinstance(node, dict), f"{profile}: {'.'.join(path)} goes below a value"
            assert key in node, f"{profile}: {'.'.join(path)} is not in values.yaml"
            node = node[key]


def test_existing_secret_and_headless(renders):
    objects = renders("helm-existing-secret-headless").objects
    spec = pod_spec(one(objects, "StatefulSet"))
    env = {var["name"]: var["value"] for var in spec["containers"][0]["env"]}
    assert env["CLAUDE_MODE"] == "headless"
    assert env["CLAUDE_PROMPT"] == "Summarise the unhealthy pods in every namespace."
    (auth,) = [volume for volume in spec["volumes"] if volume["name"] == "auth"]
    assert auth["secret"]["secretName"] == "sre-agent-credentials"
    assert auth["secret"]["items"] == [
        {"key": "oauth-token", "path": "CLAUDE_CODE_OAUTH_TOKEN"},
        {"key": "api-key", "path": "ANTHROPIC_API_KEY"},
    ]


def test_default_auth_secret_follows_the_release(render):
    spec = pod_spec(one(render(release="sre-bot").objects, "StatefulSet"))
    (auth,) = [volume for volume in spec["volumes"] if volume["name"] == "auth"]
    assert auth["secret"]["secretName"] == "sre-bot-auth"


def test_custom_scenario(renders):
    objects = renders("helm-proxy-custom").objects
    sts = one(objects, "StatefulSet")
    spec = pod_spec(sts)
    container = spec["containers"][0]
    assert container["image"] == (
        "registry.internal.example:5000/claude-in-a-box"
        "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    )
    assert "livenessProbe" not in container
    assert "readinessProbe" not in container
    assert spec["terminationGracePeriodSeconds"] == 60
    assert spec["imagePullSecrets"] == [{"name": "registry-credentials"}]
    assert spec["tolerations"][0]["key"] == "dedicated"
    template_meta = sts["spec"]["template"]["metadata"]
    assert template_meta["labels"]["team"] == "sre"
    assert "team" not in sts["spec"]["selector"]["matchLabels"]
    assert template_meta["annotations"] == {"example.com/team": "sre"}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == ""
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"


def test_persistence_can_be_turned_off(render):
    objects = render(set_values=("persistence.enabled=false",)).objects
    sts = one(objects, "StatefulSet")
    assert "volumeClaimTemplates" not in sts["spec"]
    volumes = {volume["name"]: volume for volume in pod_spec(sts)["volumes"]}
    assert volumes["claude-state"] == {"name": "claude-state", "emptyDir": {}}


def test_rbac_and_network_policy_can_be_turned_off(render):
    objects = render(set_values=("rbac.create=false", "networkPolicy.enabled=false")).objects
    assert not of_kind(objects, "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "NetworkPolicy")


def test_selectors_ignore_user_labels(render):
    objects = render(set_values=("podLabels.team=sre",)).objects
    sts = one(objects, "StatefulSet")
    assert sts["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "claude-in-a-box",
        "app.kubernetes.io/instance": "claude-agent",
    }
    for policy in of_kind(objects, "NetworkPolicy"):
        assert policy["spec"]["podSelector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]


def test_pod_template_has_no_chart_label(renders):
    """A chart bump must not roll the pod."""
    sts = one(renders("helm-default").objects, "StatefulSet")
    assert "helm.sh/chart" in sts["metadata"]["labels"]
    assert "helm.sh/chart" not in sts["spec"]["template"]["metadata"]["labels"]
    assert "app.kubernetes.io/version" not in sts["spec"]["template"]["metadata"]["labels"]


def test_remote_control_refuses_variables_that_break_it(render):
    """Claude Code refuses Remote Control with these set; helm says so before the pod does."""
    with pytest.raises(RenderError) as failure:
        render(set_values=("claudeMode=remote-control", "extraEnv[0].name=DISABLE_TELEMETRY", "extraEnv[0].value=yes"))
    assert "claudeMode=remote-control: Claude Code refuses Remote Control while DISABLE_TELEMETRY is set" in (
        failure.value.stderr
    )
