"""skills/: frontmatter schema, names, commands that exist in the image, read-only tool grants,
and the real Claude CLI loading every skill."""

from __future__ import annotations

import re
import shutil

import pytest
import yamale
from support.mcp_client import claude_env, claude_session_init, documented_tools
from support.skills import (
    BASE_COMMANDS,
    OTHER_LANGUAGES,
    SHELL_BUILTINS,
    SHELL_LANGUAGES,
    Skill,
    commands_in,
    image_tools,
    load_skills,
    mutating_commands,
)

from ciab import REPO_ROOT

pytestmark = pytest.mark.unit

SKILLS_DIR = REPO_ROOT / "skills"
REQUIRED = {"pod-diagnosis", "log-analysis", "incident-triage", "network-debugging"}
SKILLS = load_skills(SKILLS_DIR)
# What a bundled skill may pre-approve in allowed-tools: MCP tools of the kubernetes server, and
# Bash commands that only read. Left out on purpose: rg (--pre runs a program), sort
# (--compress-program), awk, sed, find, xargs, env, timeout, curl, cat.
READ_ONLY_BASH = {
    "kubectl get", "kubectl describe", "kubectl logs", "kubectl top", "kubectl events", "kubectl explain",
    "kubectl api-resources", "kubectl auth can-i", "kubectl version", "kubectl rollout status",
    "kubectl rollout history", "jq", "head", "tail", "wc", "cut", "uniq", "dig", "nslookup", "host", "ss",
    "openssl s_client", "openssl x509",
}  # fmt: skip


def by_name(test):
    return pytest.mark.parametrize("skill", SKILLS, ids=[skill.name for skill in SKILLS])(test)


def test_required_skills_exist():
    assert {skill.name for skill in SKILLS} >= REQUIRED


@by_name
def test_frontmatter_matches_schema(skill: Skill):
    schema = yamale.make_schema(str(SKILLS_DIR / "schema.yaml"))
    data = yamale.make_data(content=skill.frontmatter_text)
    yamale.validate(schema, data, strict=True)


@by_name
def test_name_equals_folder(skill: Skill):
    assert skill.frontmatter["name"] == skill.folder.name


@by_name
def test_description_says_when_to_use(skill: Skill):
    assert re.search(r"\bUse (when|for)\b", skill.frontmatter["description"])


@by_name
def test_frontmatter_values_are_single_plain_lines(skill: Skill):
    """generate-claude-md reads `key: value` lines without a YAML parser: it must see what YAML sees."""
    lines = dict(line.split(": ", 1) for line in skill.frontmatter_text.splitlines())
    assert lines["name"] == skill.frontmatter["name"]
    assert lines["description"] == skill.frontmatter["description"]


@by_name
def test_code_blocks_have_a_known_language(skill: Skill):
    languages = {block.language for block in skill.code_blocks()}
    assert languages <= SHELL_LANGUAGES | OTHER_LANGUAGES, "tag every fence: bash for commands, text otherwise"
    assert SHELL_LANGUAGES & languages, "a runbook without a single command"


@by_name
def test_every_command_exists_in_the_image(skill: Skill, repo_root):
    available = image_tools(repo_root / "docker" / "tools.list") | SHELL_BUILTINS | BASE_COMMANDS
    used = {
        cmd for block in skill.code_blocks() if block.language in SHELL_LANGUAGES for cmd in commands_in(block.text)
    }
    assert used, "the parser found no command at all"
    assert not used - available, f"not in docker/tools.list nor whitelisted: {sorted(used - available)}"


@by_name
def test_changes_are_marked(skill: Skill):
    """A block that changes the cluster starts with a '# CHANGE' comment saying who may run it."""
    for block in skill.code_blocks():
        if block.language in SHELL_LANGUAGES and mutating_commands(block.text):
            assert block.text.lstrip().startswith("# CHANGE"), block.text


@by_name
def test_allowed_tools_only_read(skill: Skill, repo_root):
    mcp_tools = set(documented_tools())
    available = image_tools(repo_root / "docker" / "tools.list")
    for tool in skill.allowed_tools():
        if tool.startswith("mcp__"):
            assert tool.removeprefix("mcp__kubernetes__") in mcp_tools, tool
            continue
        match = re.fullmatch(r"Bash\((.+):\*\)", tool)
        assert match, f"{tool}: only mcp__kubernetes__* tools and Bash(<read-only command>:*) are allowed"
        assert match.group(1) in READ_ONLY_BASH, tool
        assert match.group(1).split()[0] in available | BASE_COMMANDS, tool


@by_name
def test_mcp_tools_named_are_exposed(skill: Skill):
    named = set(re.findall(r"mcp__kubernetes__(\w+)", skill.frontmatter_text + skill.body))
    assert named, "a skill should point at the MCP tools it reads with"
    assert named <= set(documented_tools())


def test_command_parser_finds_what_the_shell_runs():
    """The checks above are only as good as this parser: it must not miss commands."""
    script = """NS=default POD=x
# a comment with a 'quote
kubectl get pod "$POD" -o json | jq -r '
  .status | @tsv' 2>/dev/null && echo ok
for p in $(kubectl get po -o name); do stern "$p"; done

timeout 5 nc -vz host 80 </dev/null
echo "$(hidden-in-quotes --flag)" ; env A=b ghost
if fancy-check; then printf 'yes'; fi
"""
    assert commands_in(script) == [
        "kubectl", "jq", "echo", "kubectl", "stern", "timeout", "nc", "echo", "hidden-in-quotes", "env", "ghost",
        "fancy-check", "printf",
    ]  # fmt: skip
    assert mutating_commands("kubectl -n x get po; kubectl --context a rollout undo d | kubectl delete po y") == [
        "kubectl rollout undo",
        "kubectl delete",
    ]


def test_real_claude_cli_loads_every_skill(claude_bin, tmp_path):
    """Staged as the entrypoint does (project scope), plus one user skill on the volume."""
    workspace = tmp_path / "workspace"
    shutil.copytree(SKILLS_DIR, workspace / ".claude" / "skills")
    env = claude_env(tmp_path / "home")
    user_skill = tmp_path / "home" / ".claude" / "skills" / "my-runbook" / "SKILL.md"
    user_skill.parent.mkdir(parents=True)
    user_skill.write_text("---\nname: my-runbook\ndescription: A user's own runbook. Use when testing.\n---\n# Mine\n")
    init = claude_session_init([str(claude_bin)], workspace, env, "--strict-mcp-config")
    assert {skill.name for skill in SKILLS} | {"my-runbook"} <= set(init["skills"])
