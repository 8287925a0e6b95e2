"""State across restarts (ENT-06): the user's files on the volume survive a new pod; image-owned
config (the bundled skills in the workspace) is refreshed from the image on every start."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.integration

STATE = "/home/agent/.claude"
BUNDLED = "/opt/claude-in-a-box/skills"
STAGED = "/workspace/.claude/skills"


def test_user_state_survives_a_new_pod(readonly_agent):
    marker = uuid.uuid4().hex
    note = f"{STATE}/ciab-it-{marker}"
    skill = f"{STATE}/skills/ciab-it-{marker}"
    readonly_agent.sh(
        f"printf %s {marker} > {note} && mkdir -p {skill} && "
        f"printf '%s\\n' --- 'name: ciab-it-{marker}' 'description: integration test' --- > {skill}/SKILL.md"
    )
    try:
        old_uid = readonly_agent.get()["metadata"]["uid"]
        readonly_agent.replace_pod()
        assert readonly_agent.get()["metadata"]["uid"] != old_uid
        assert readonly_agent.exec("cat", note).stdout == marker
        assert f"name: ciab-it-{marker}" in readonly_agent.exec("cat", f"{skill}/SKILL.md").stdout
        # The new pod's CLAUDE.md lists the user's own skill from the volume.
        assert f"ciab-it-{marker}" in readonly_agent.exec("cat", "/workspace/CLAUDE.md").stdout
    finally:
        readonly_agent.exec("rm", "-rf", note, skill, check=False)


def skills_in(agent, directory: str) -> list[str]:
    """Names of the skill folders (those with a SKILL.md) in directory."""
    found = agent.exec("find", directory, "-mindepth", "2", "-maxdepth", "2", "-name", "SKILL.md").stdout.split()
    return sorted(path.rsplit("/", 2)[-2] for path in found)


def test_bundled_skills_are_refreshed_on_container_restart(readonly_agent):
    """/workspace (an emptyDir) outlives a container restart; the entrypoint restages it anyway."""
    bundled = skills_in(readonly_agent, BUNDLED)
    assert bundled, f"the image bundles skills in {BUNDLED}"
    first = bundled[0]
    readonly_agent.sh(
        f"echo tampered > {STAGED}/{first}/SKILL.md && mkdir -p {STAGED}/ciab-stale && "
        f"echo stale > {STAGED}/ciab-stale/SKILL.md"
    )
    readonly_agent.restart_container()
    staged = readonly_agent.exec("cat", f"{STAGED}/{first}/SKILL.md").stdout
    assert staged == readonly_agent.exec("cat", f"{BUNDLED}/{first}/SKILL.md").stdout
    assert skills_in(readonly_agent, STAGED) == bundled
