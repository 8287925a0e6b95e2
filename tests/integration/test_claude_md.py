"""CLAUDE.md written at start (DOC-02) with the real cluster's facts: version, node count, tier."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


def facts(agent) -> dict[str, str]:
    """The "- Key: value" lines of the "Where you are" section."""
    text = agent.exec("cat", "/workspace/CLAUDE.md").stdout
    section = text.split("## Where you are", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^- ([^:\n]+): (.+)$", section, re.MULTILINE))


def test_claude_md_describes_the_cluster(readonly_agent, kube):
    found = facts(readonly_agent)
    server = kube.json("version")["serverVersion"]["gitVersion"]
    nodes = kube.json("get", "nodes")["items"]
    assert len(nodes) == 3, "deploy/kind/test.yaml: one control plane and two workers"
    assert found["Mode"].startswith("in-cluster")
    assert found["Kubernetes version"].split()[0] == server
    assert found["Nodes"] == "3"
    assert found["Namespace"] == readonly_agent.namespace
    assert found["Pod"] == readonly_agent.pod
    assert found["RBAC tier"] == "readonly"


def test_claude_md_of_the_operator_tier(operator_agent):
    assert facts(operator_agent)["RBAC tier"] == "operator"
