"""The OData query options Graph's user list takes: $select, $filter, $top, $skiptoken."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from emulator.responses import GraphProblem
from emulator.state import User

__all__ = [
    "DEFAULT_PROPERTIES",
    "DEFAULT_TOP",
    "MAX_TOP",
    "make_skiptoken",
    "parse_filter",
    "parse_select",
    "parse_skiptoken",
    "parse_top",
    "render_user",
]

DEFAULT_TOP = 100
MAX_TOP = 999


def _properties(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "mail": user.mail,
        "accountEnabled": user.account_enabled,
        "mailNickname": user.alias,
        "userType": "Member",
        "givenName": None,
        "surname": None,
        "jobTitle": None,
        "businessPhones": [],
        "mobilePhone": None,
        "officeLocation": None,
        "preferredLanguage": None,
        # Graph never returns a password; a selected passwordProfile reads as null.
        "passwordProfile": None,
    }


# Graph's default set for users, plus accountEnabled (which callers here always want).
DEFAULT_PROPERTIES = tuple(
    "businessPhones displayName givenName jobTitle mail mobilePhone officeLocation "
    "preferredLanguage surname userPrincipalName id accountEnabled".split()
)
# Selectable properties by lowercase name ($select and $filter names are case-insensitive).
_KNOWN = {
    name.lower(): name
    for name in (
        "id userPrincipalName displayName mail accountEnabled mailNickname userType givenName "
        "surname jobTitle businessPhones mobilePhone officeLocation preferredLanguage "
        "passwordProfile"
    ).split()
}


def parse_select(value: str | None) -> list[str] | None:
    """The canonical property names of a $select list (id always first); None when absent."""
    if value is None:
        return None
    names: list[str] = ["id"]
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            continue
        canonical = _KNOWN.get(name.lower())
        if canonical is None:
            raise GraphProblem(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.user'.",
            )
        names.append(canonical)
    return list(dict.fromkeys(names))


def render_user(user: User, select: list[str] | None) -> dict[str, Any]:
    everything = _properties(user)
    return {name: everything[name] for name in (select or DEFAULT_PROPERTIES)}


_STRING = r"'((?:[^']|'')*)'"
_EQ = re.compile(rf"\s*(\w+)\s+eq\s+{_STRING}\s*", re.IGNORECASE)
_STARTSWITH = re.compile(rf"\s*startswith\(\s*(\w+)\s*,\s*{_STRING}\s*\)\s*", re.IGNORECASE)
_BOOL_EQ = re.compile(r"\s*(accountEnabled)\s+eq\s+(true|false)\s*", re.IGNORECASE)
_STRING_FILTERABLE = frozenset({"id", "userPrincipalName", "displayName", "mail", "mailNickname"})


def _invalid_filter() -> GraphProblem:
    return GraphProblem(400, "BadRequest", "Invalid filter clause")


def _string_property(name: str) -> str:
    canonical = _KNOWN.get(name.lower())
    if canonical not in _STRING_FILTERABLE:
        raise _invalid_filter()
    return canonical


def parse_filter(value: str | None) -> Callable[[User], bool]:
    """A predicate for one $filter clause; strings compare case-insensitively, as Graph.

    Supported: `<prop> eq '<value>'` and `startswith(<prop>,'<value>')` for id,
    userPrincipalName, displayName, mail, mailNickname; `accountEnabled eq true|false`.
    """
    if value is None or not value.strip():
        return lambda user: True
    if match := _BOOL_EQ.fullmatch(value):
        wanted = match.group(2).lower() == "true"
        return lambda user: user.account_enabled is wanted
    if match := _EQ.fullmatch(value):
        prop, literal = _string_property(match.group(1)), match.group(2).replace("''", "'")
        return lambda user: str(_properties(user)[prop] or "").lower() == literal.lower()
    if match := _STARTSWITH.fullmatch(value):
        prop, literal = _string_property(match.group(1)), match.group(2).replace("''", "'")
        return lambda user: str(_properties(user)[prop] or "").lower().startswith(literal.lower())
    raise _invalid_filter()


def parse_top(value: str | None) -> int:
    if value is None:
        return DEFAULT_TOP
    try:
        top = int(value)
    except ValueError:
        top = 0
    if not 1 <= top <= MAX_TOP:
        raise GraphProblem(
            400,
            "Request_UnsupportedQuery",
            f"Invalid page size specified: '{value}'. Must be between 1 and {MAX_TOP} inclusive.",
        )
    return top


_SKIPTOKEN_PREFIX = "emu1:"


def make_skiptoken(offset: int) -> str:
    """An opaque page token; clients must follow @odata.nextLink, not build these."""
    raw = f"{_SKIPTOKEN_PREFIX}{offset}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_skiptoken(value: str | None) -> int:
    if value is None:
        return 0
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        if raw.startswith(_SKIPTOKEN_PREFIX):
            offset = int(raw.removeprefix(_SKIPTOKEN_PREFIX))
            if offset >= 0:
                return offset
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise GraphProblem(
        400,
        "Directory_ExpiredPageToken",
        "The specified page token value has expired and can no longer be included in your request.",
    )
