"""The policy rules of token roles (Vault's handleCreateCommon with a role), as pure logic."""

from __future__ import annotations

import pytest

from mount.auth.token_roles import TokenRole, glob_match, role_policies
from mount.sdk.errors import InvalidRequestError


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("team-*", "team-read", True),
        ("team-*", "other", False),
        ("*-prod", "db-prod", True),
        ("team-*-ro", "team-a-b-ro", True),
        ("team-*-ro", "team-a-rw", False),
        ("a?c", "abc", False),  # only * is special, as go-glob
        ("a?c", "a?c", True),
        ("*", "anything", True),
    ],
)
def test_glob_match(pattern: str, value: str, expected: bool) -> None:
    assert glob_match([pattern], value) is expected


def test_allowed_policies_need_not_be_the_parents() -> None:
    role = TokenRole(name="ops", allowed_policies=("ops",))
    assert role_policies(role, ["OPS"], parent=("default",), no_default=False) == [
        "default",
        "ops",
    ]
    assert role_policies(role, [], parent=("default",), no_default=False) == ["default", "ops"]
    with pytest.raises(InvalidRequestError, match="must be subset of the role's allowed"):
        role_policies(role, ["admin"], parent=("admin",), no_default=False)


def test_a_glob_only_role_gives_default_when_nothing_is_asked() -> None:
    role = TokenRole(name="g", allowed_policies_glob=("p-*",), disallowed_policies=("p-two",))
    assert role_policies(role, [], parent=("root",), no_default=False) == ["default"]
    assert role_policies(role, ["p-one"], parent=(), no_default=False) == ["default", "p-one"]
    with pytest.raises(InvalidRequestError, match='token policy "p-two" is disallowed'):
        role_policies(role, ["p-two"], parent=(), no_default=False)


def test_disallowed_only_starts_from_the_parent_and_default_can_be_disallowed() -> None:
    role = TokenRole(name="d", disallowed_policies=("default",))
    assert role_policies(role, [], parent=("a", "b"), no_default=False) == ["a", "b"]
    with pytest.raises(InvalidRequestError, match='"default" is disallowed'):
        role_policies(role, ["a", "default"], parent=("a",), no_default=False)
