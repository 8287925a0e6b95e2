"""NetworkPolicies: ingress denied, egress only to DNS, the API server and (unless air-gapped)
HTTPS; every agent pod is selected."""

from __future__ import annotations

import ipaddress

import pytest

from .manifests import ALL_SOURCES, SOURCES, of_kind, one, pod_spec, ref

pytestmark = pytest.mark.chart

ANTHROPIC_API = {"160.79.104.0/23", "2607:6bc0::/48"}
DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
PRIVATE = [
    ipaddress.ip_network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10")
]


def selects(policy: dict, labels: dict) -> bool:
    selector = policy["spec"]["podSelector"]
    assert set(selector) <= {"matchLabels"}, f"{ref(policy)}: only matchLabels selectors expected"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def agent_policies(objects: list[dict]) -> list[dict]:
    labels = one(objects, "StatefulSet")["spec"]["template"]["metadata"]["labels"]
    return [policy for policy in of_kind(objects, "NetworkPolicy") if selects(policy, labels)]


def egress_rules(objects: list[dict]) -> list[dict]:
    return [rule for policy in agent_policies(objects) for rule in policy["spec"].get("egress", [])]


def is_dns_rule(rule: dict) -> bool:
    return rule["ports"] == DNS_PORTS and all(
        "podSelector" in peer and "namespaceSelector" in peer for peer in rule["to"]
    )


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: s.id)
def test_ingress_is_denied_and_egress_restricted(source, renders):
    objects = renders(source.id).objects
    policies = agent_policies(objects)
    assert policies, f"{source.id}: no NetworkPolicy selects the agent"
    types = {kind for policy in policies for kind in policy["spec"]["policyTypes"]}
    assert types == {"Ingress", "Egress"}
    assert not [policy for policy in policies if policy["spec"].get("ingress")], "no ingress rule may exist"
    for rule in egress_rules(objects):
        assert rule.get("to"), f"{source.id}: egress rule open to every destination: {rule}"
        assert rule.get("ports"), f"{source.id}: egress rule open on every port: {rule}"
    assert any(is_dns_rule(rule) for rule in egress_rules(objects)), "DNS must be allowed"


@pytest.mark.parametrize("source", ALL_SOURCES, ids=lambda s: s.id)
def test_https_never_opens_private_ranges(source, renders):
    """Besides DNS and the API server, nothing in the cluster or cloud metadata is reachable."""
    objects = renders(source.id).objects
    dns, api = one(objects, "NetworkPolicy", "claude-agent")["spec"]["egress"]
    assert is_dns_rule(dns)
    assert all(set(peer) == {"ipBlock"} for peer in api["to"])
    https_rules = [
        rule for policy in of_kind(objects, "NetworkPolicy") if policy["metadata"]["name"] == "claude-agent-https"
        for rule in policy["spec"]["egress"]
    ]  # fmt: skip
    assert bool(https_rules) != source.airgapped
    if source.id == "helm-proxy-custom":
        return  # the proxy itself is a private address, checked below
    for rule in https_rules:
        assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
        for peer in rule["to"]:
            block = peer["ipBlock"]
            network = ipaddress.ip_network(block["cidr"])
            excepted = [ipaddress.ip_network(cidr) for cidr in block.get("except", [])]
            for private in PRIVATE:
                if private.version == network.version and private.subnet_of(network):
                    assert any(private.subnet_of(e) for e in excepted), f"{source.id}: {block} opens {private}"


@pytest.mark.parametrize("source", [s for s in ALL_SOURCES if s.airgapped], ids=lambda s: s.id)
def test_airgapped_reaches_only_dns_and_the_api_server(source, renders):
    objects = renders(source.id).objects
    rules = egress_rules(objects)
    assert len(rules) == 2
    dns, api = sorted(rules, key=is_dns_rule, reverse=True)
    assert is_dns_rule(dns)
    assert [peer["ipBlock"]["cidr"] for peer in api["to"]] == ["10.96.0.1/32", "172.16.0.0/12"]
    assert {port["port"] for port in api["ports"]} == {443, 6443}
    container = pod_spec(one(objects, "StatefulSet"))["containers"][0]
    assert container["image"] == "registry.internal.example/claude-in-a-box:0.1.0"


@pytest.mark.parametrize("source_id", ["helm-readonly", "raw-readonly"])
def test_readonly_https_only_to_the_anthropic_api(source_id, renders):
    https = one(renders(source_id).objects, "NetworkPolicy", "claude-agent-https")
    (rule,) = https["spec"]["egress"]
    assert {peer["ipBlock"]["cidr"] for peer in rule["to"]} == ANTHROPIC_API
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]


def test_proxy_is_the_only_https_destination(renders):
    objects = renders("helm-proxy-custom").objects
    https = one(objects, "NetworkPolicy", "claude-agent-https")
    assert https["spec"]["egress"] == [
        {"to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}], "ports": [{"protocol": "TCP", "port": 3128}]}
    ]
    env = {var["name"]: var.get("value") for var in pod_spec(one(objects, "StatefulSet"))["containers"][0]["env"]}
    assert env["HTTPS_PROXY"] == "http://10.20.0.5:3128"
    # The API server stays direct: kubectl in the pod talks to $KUBERNETES_SERVICE_HOST.
    assert env["NO_PROXY"].split(",")[-1] == "$(KUBERNETES_SERVICE_HOST)"
    assert ".svc" in env["NO_PROXY"].split(",")


def test_all_sources_catalogued():
    assert {s.id for s in ALL_SOURCES} == set(SOURCES)
