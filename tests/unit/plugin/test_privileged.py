"""The privileged role list (plugin/privileged.py): its matching and its documentation."""

from __future__ import annotations

from pathlib import Path

from plugin.graph import GraphDirectoryRole
from plugin.privileged import PRIVILEGED_ROLES, privileged_role_names

OPERATIONS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"


def test_names_come_once_in_membership_order_and_others_are_ignored():
    held = [
        GraphDirectoryRole("a", USER_ADMIN, "User Administrator"),
        GraphDirectoryRole("b", DIRECTORY_READERS, "Directory Readers"),
        GraphDirectoryRole("c", GLOBAL_ADMIN, "Company Administrator"),  # an old display name
        GraphDirectoryRole("d", USER_ADMIN, "User Administrator"),
        GraphDirectoryRole("e", "", ""),  # limited information: decided elsewhere
    ]
    assert privileged_role_names(held) == ["User Administrator", "Global Administrator"]
    assert privileged_role_names([]) == []


def test_every_privileged_role_is_in_the_operations_guide():
    text = OPERATIONS.read_text(encoding="utf-8")
    missing = [
        f"{name} ({template})"
        for template, name in PRIVILEGED_ROLES.items()
        if f"| {name} | `{template}` |" not in text
    ]
    assert missing == []
