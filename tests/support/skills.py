"""Reading the bundled skills: frontmatter, fenced code blocks and the commands those blocks run.

Shared by tests/unit/test_skills.py (against docker/tools.list) and tests/image (against the
built image), so both check the same list of commands.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import yaml

FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
# Languages a skill may tag its code blocks with; only shell blocks hold commands to check.
SHELL_LANGUAGES = {"bash", "sh", "shell"}
OTHER_LANGUAGES = {"text", "yaml", "json"}

# Words that start a command but are not one: shell keywords and builtins.
SHELL_BUILTINS = {
    "[", "[[", "cd", "command", "do", "done", "echo", "elif", "else", "export", "false", "fi", "for",
    "if", "local", "printf", "read", "set", "test", "then", "true", "unset", "until", "wait", "while",
}  # fmt: skip
# Commands every Debian image has (coreutils and the other Essential packages: diffutils,
# findutils, grep, sed, mawk). Listed explicitly; tests/image checks each exists in the image.
BASE_COMMANDS = {
    "awk", "base64", "basename", "cat", "cut", "date", "diff", "dirname", "env", "find", "grep",
    "head", "id", "ls", "sed", "sort", "stat", "tail", "tee", "timeout", "tr", "uniq", "wc",
}  # fmt: skip
# Commands that run the command given in their arguments; that command is checked too.
WRAPPERS = {"env", "timeout"}
# Words after which a new command starts, without being commands themselves.
_KEYWORDS = {"!", "do", "done", "elif", "else", "esac", "fi", "if", "then", "until", "while"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_WRAPPER_ARGUMENT = re.compile(r"^(-.*|[0-9]+(\.[0-9]+)?[smhd]?)$")  # options and durations
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")


@dataclass(frozen=True)
class CodeBlock:
    language: str
    text: str


@dataclass(frozen=True)
class Skill:
    folder: Path
    frontmatter_text: str
    frontmatter: dict
    body: str

    @property
    def name(self) -> str:
        return self.folder.name

    def code_blocks(self) -> list[CodeBlock]:
        return [CodeBlock(m.group(1), m.group(2)) for m in FENCE.finditer(self.body)]

    def allowed_tools(self) -> list[str]:
        value = self.frontmatter.get("allowed-tools", [])
        if isinstance(value, str):
            value = value.split(",")
        return [tool.strip() for tool in value if tool.strip()]


def split_frontmatter(text: str) -> tuple[str, str]:
    """(frontmatter, body) of a SKILL.md; the file must start with a '---' fenced YAML block."""
    lines = text.split("\n")
    if lines[0] != "---" or "---" not in lines[1:]:
        raise ValueError("SKILL.md must start with YAML frontmatter between two '---' lines")
    end = lines.index("---", 1)
    return "\n".join(lines[1:end]) + "\n", "\n".join(lines[end + 1 :])


def load_skills(skills_dir: Path) -> list[Skill]:
    skills = []
    for skill_md in sorted(skills_dir.glob("*/SKILL.md")):
        front, body = split_frontmatter(skill_md.read_text())
        skills.append(Skill(skill_md.parent, front, yaml.safe_load(front) or {}, body))
    return skills


def image_tools(tools_list: Path) -> set[str]:
    """Command names of docker/tools.list (first column; comments and blank lines skipped)."""
    names = set()
    for line in tools_list.read_text().splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            names.add(fields[0])
    return names


def _tokens(script: str) -> list[str]:
    """Shell tokens; a newline outside quotes is its own token (it ends a command)."""
    script = script.replace("\\\n", " ")
    # Whole-line comments go first: prose in them may hold quotes ("the volume's owner").
    script = "\n".join("" if line.lstrip().startswith("#") else line for line in script.split("\n"))
    lexer = shlex.shlex(script, posix=True, punctuation_chars="();<>|&\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    lexer.commenters = ""  # comments are recognised below, as the shell does: at a word start
    return list(lexer)


def _is_operator(token: str) -> bool:
    return set(token) <= set("();|&<>\n")


def commands_in(script: str) -> list[str]:
    """Every command name a shell snippet runs, including inside $(...) and after wrappers."""
    commands: list[str] = []
    state = "command"  # what the next word is: command, wrapped (after a wrapper), argument
    skip_word = in_comment = False
    for token in _tokens(script):
        if _is_operator(token) and "\n" in token:  # the end of a line (operators group: ";\n\n")
            state, skip_word, in_comment = "command", False, False
            continue
        if in_comment:
            continue
        for inner in _SUBSTITUTION.findall(token):  # $(...) inside a quoted word
            commands.extend(commands_in(inner))
        if _is_operator(token):
            if "<" in token or ">" in token:
                skip_word = True  # the next word is a file name
            elif token != ")":
                state = "command"  # after | || && ; & ( and $(
            continue
        if skip_word:
            skip_word = False
            continue
        if token.startswith("#"):
            in_comment = True
        elif (
            token == "$"
            or state == "argument"
            or (state == "wrapped" and (_WRAPPER_ARGUMENT.match(token) or _ASSIGNMENT.match(token)))
            or (state == "command" and (_ASSIGNMENT.match(token) or token in _KEYWORDS))
        ):
            continue
        elif token == "for":
            state = "argument"  # for NAME in WORDS; the command starts after ; or do
        else:
            commands.append(token)
            state = "wrapped" if token in WRAPPERS else "argument"
    return commands


# kubectl and helm subcommands that change the cluster (or run code in it).
MUTATING = {
    "kubectl": {
        "annotate", "apply", "attach", "autoscale", "cordon", "cp", "create", "debug", "delete", "drain",
        "edit", "exec", "expose", "label", "patch", "port-forward", "replace", "run", "scale", "set",
        "taint", "uncordon",
    },
    "kubectl rollout": {"pause", "restart", "resume", "undo"},
    "helm": {"install", "rollback", "uninstall", "upgrade"},
}  # fmt: skip
# Global options that take a separate value (so the value is not taken for the subcommand).
_VALUE_OPTIONS = {"-n", "--namespace", "--context", "--cluster", "--kubeconfig", "-l", "--selector", "--user"}


def mutating_commands(script: str) -> list[str]:
    """The kubectl/helm invocations in a snippet that change the cluster, e.g. 'kubectl delete'."""
    found = []
    words = _tokens(script)
    for i, word in enumerate(words):
        if word not in ("kubectl", "helm"):
            continue
        prefix, skip = word, False
        for arg in words[i + 1 :]:
            if _is_operator(arg):
                break
            if skip:
                skip = False
            elif arg in _VALUE_OPTIONS:
                skip = True
            elif not arg.startswith("-"):
                if arg in MUTATING.get(prefix, set()):
                    found.append(f"{prefix} {arg}")
                if prefix == "kubectl" and arg == "rollout":
                    prefix = "kubectl rollout"
                    continue
                break
    return found
