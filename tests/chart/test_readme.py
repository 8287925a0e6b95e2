"""The README's table of verbs by resource and profile is the rendered RBAC, so it cannot drift."""

from __future__ import annotations

import pytest

from .manifests import README, permissions

pytestmark = pytest.mark.chart

HEADER = ["API group", "Resources", "readonly", "operator", "namespaced"]
# README column → the render it describes.
COLUMNS = {"readonly": "helm-readonly", "operator": "helm-operator", "namespaced": "helm-namespaced"}
NONE = "—"


def deploy_section() -> str:
    text = README.read_text()
    start, end = "<!-- section:deploy:start -->", "<!-- section:deploy:end -->"
    assert start in text, "README deploy section start marker is missing"
    assert end in text, "README deploy section end marker is missing"
    return text[text.index(start) : text.index(end)]


def readme_rbac_table() -> dict[str, dict[tuple[str, str], set[str]]]:
    """Column → (apiGroup, resource) → verbs, from the markdown table."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in deploy_section().splitlines()
        if line.startswith("|")
    ]
    start = rows.index(HEADER)
    table: dict[str, dict[tuple[str, str], set[str]]] = {column: {} for column in COLUMNS}
    for row in rows[start + 2 :]:
        if len(row) != len(HEADER):
            break  # the next table
        group = "" if row[0] == "core" else row[0]
        for resource in row[1].split(", "):
            for column, cell in zip(HEADER[2:], row[2:], strict=True):
                assert (group, resource) not in table[column], f"README lists {row[0]}/{resource} twice"
                table[column][(group, resource)] = set() if cell == NONE else set(cell.split(", "))
    return table


def test_readme_table_is_the_rendered_rbac(renders):
    table = readme_rbac_table()
    for column, source_id in COLUMNS.items():
        rendered = permissions(renders(source_id).objects)
        documented = {key: verbs for key, verbs in table[column].items() if verbs}
        assert documented == rendered, f"README column {column!r} differs from {source_id}"


def test_readme_says_secrets_are_never_granted():
    table = readme_rbac_table()
    for column in COLUMNS:
        assert table[column][("", "secrets")] == set()
