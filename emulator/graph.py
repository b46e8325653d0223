"""The Microsoft Graph side: list, read and update users and list their directory roles,
with app-only bearer tokens."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from emulator.directory import render_directory_role
from emulator.keys import STATE_KEY, TOKENS_KEY
from emulator.oauth_common import base_url
from emulator.odata import (
    make_skiptoken,
    parse_filter,
    parse_select,
    parse_skiptoken,
    parse_top,
    render_user,
)
from emulator.policy import complies
from emulator.responses import GraphProblem
from emulator.state import TenantState, User
from emulator.tokens import InvalidTokenError

__all__ = [
    "DIRECTORY_ROLE_READ_ROLES",
    "ENABLE_ROLES",
    "MEMBERSHIP_ROLES",
    "PASSWORD_ROLES",
    "READ_ROLES",
    "WRITE_ROLES",
    "add_graph_routes",
]

# Application permissions (the token's `roles`) that allow each kind of call.
READ_ROLES = frozenset(
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
)
WRITE_ROLES = frozenset({"User.ReadWrite.All", "Directory.ReadWrite.All"})
PASSWORD_ROLES = WRITE_ROLES | {"User-PasswordProfile.ReadWrite.All"}
ENABLE_ROLES = WRITE_ROLES | {"User.EnableDisableAccount.All"}
# A user's memberships (GET /users/{id}/transitiveMemberOf), and, to see more of a
# directory role listed there than its type and id, the right to read directory roles.
MEMBERSHIP_ROLES = READ_ROLES | {"GroupMember.Read.All", "Group.Read.All"}
DIRECTORY_ROLE_READ_ROLES = frozenset(
    {
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
        "RoleManagement.ReadWrite.Directory",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)

_DENIED = "Insufficient privileges to complete the operation."
_BAD_JSON = (
    "Unable to read JSON request payload. Please ensure Content-Type header is set and "
    "payload is of valid JSON format."
)
_WEAK_PASSWORD = (
    "The specified password does not comply with password complexity requirements. "
    "Please provide a different password."
)
_READ_ONLY = frozenset({"id", "mailNickname", "userType", "userPrincipalName"})
_PASSWORD_PROFILE_FIELDS = frozenset(
    {"password", "forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"}
)
# What the key form /users('…') may hold, `'` doubled inside.
_KEY_FORM = r"\('(?:[^']|'')*'\)"
# Paths the emulator knows (relative to /v1.0/), for 405 rather than "segment not found".
_KNOWN_PATH = re.compile(r"users(/[^/]+|\('(?:[^']|'')*'\))?(/transitiveMemberOf)?/?")


def _unauthenticated() -> GraphProblem:
    return GraphProblem(
        401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience."
    )


def _granted(request: web.Request) -> set[str]:
    """The `roles` of the bearer token, once it is known to be ours, this tenant's, app-only."""
    state = request.app[STATE_KEY]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated()
    try:
        claims = request.app[TOKENS_KEY].verify(token.strip())
    except InvalidTokenError:
        raise _unauthenticated() from None
    if str(claims.get("tid", "")).lower() != state.tenant_id.lower():
        raise _unauthenticated()
    if claims.get("idtyp") != "app":
        raise _unauthenticated()
    roles = claims.get("roles")
    return {str(r) for r in roles} if isinstance(roles, list) else set()


def _require(granted: set[str], allowed: frozenset[str]) -> None:
    if not granted & allowed:
        raise GraphProblem(403, "Authorization_RequestDenied", _DENIED)


def _user_key(request: web.Request) -> str:
    """The user id or UPN from /users/{id} or /users('{key}'), percent-decoded."""
    if "key" in request.match_info:
        return request.match_info["key"][2:-2].replace("''", "'")
    key = request.match_info["id"]
    if key.startswith("$"):
        # Graph reads /users/$x as a system query option; /users('$x') is the way.
        raise GraphProblem(400, "BadRequest", f"Resource not found for the segment '{key}'.")
    return key


def _find(state: TenantState, key: str) -> User:
    user = state.find_user(key)
    if user is None:
        raise GraphProblem(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    return user


def _context(request: web.Request, select: list[str] | None, *, entity: bool) -> str:
    shape = f"users({','.join(select)})" if select else "users"
    return f"{base_url(request)}/v1.0/$metadata#{shape}{'/$entity' if entity else ''}"


async def list_users(request: web.Request) -> web.Response:
    """GET /v1.0/users with $top, $select, $filter, $count and @odata.nextLink paging."""
    _require(_granted(request), READ_ROLES)
    query = request.query
    select = parse_select(query.get("$select"))
    keep = parse_filter(query.get("$filter"))
    top = parse_top(query.get("$top"))
    offset = parse_skiptoken(query.get("$skiptoken"))
    matching = [u for u in request.app[STATE_KEY].users() if keep(u)]
    page = matching[offset : offset + top]
    body: dict[str, Any] = {"@odata.context": _context(request, select, entity=False)}
    if query.get("$count", "").lower() == "true":
        body["@odata.count"] = len(matching)
    if offset + top < len(matching):
        params = [(k, v) for k, v in query.items() if k != "$skiptoken"]
        params.append(("$skiptoken", make_skiptoken(offset + top)))
        link = urlencode(params, quote_via=quote, safe="$,'()@")
        body["@odata.nextLink"] = f"{base_url(request)}/v1.0/users?{link}"
    body["value"] = [render_user(u, select) for u in page]
    return web.json_response(body)


async def get_user(request: web.Request) -> web.Response:
    """GET /v1.0/users/{id | userPrincipalName} (or /users('…')), honouring $select."""
    _require(_granted(request), READ_ROLES)
    select = parse_select(request.query.get("$select"))
    user = _find(request.app[STATE_KEY], _user_key(request))
    body = {"@odata.context": _context(request, select, entity=True), **render_user(user, select)}
    return web.json_response(body)


async def list_memberships(request: web.Request) -> web.Response:
    """GET /v1.0/users/{id}/transitiveMemberOf: the user's directory roles, paged.

    The emulator has no groups or administrative units, so directory roles are all a
    user is a member of. $top and @odata.nextLink paging as for users; without a
    permission to read directory roles each one is listed with its type and id only.
    """
    granted = _granted(request)
    _require(granted, MEMBERSHIP_ROLES)
    query = request.query
    top = parse_top(query.get("$top"))
    offset = parse_skiptoken(query.get("$skiptoken"))
    state = request.app[STATE_KEY]
    roles = state.directory_roles_of(_find(state, _user_key(request)))
    named = bool(granted & DIRECTORY_ROLE_READ_ROLES)
    body: dict[str, Any] = {
        "@odata.context": f"{base_url(request)}/v1.0/$metadata#directoryObjects"
    }
    if offset + top < len(roles):
        params = [(k, v) for k, v in query.items() if k != "$skiptoken"]
        params.append(("$skiptoken", make_skiptoken(offset + top)))
        link = urlencode(params, quote_via=quote, safe="$,'()@")
        body["@odata.nextLink"] = f"{base_url(request)}{request.rel_url.raw_path}?{link}"
    body["value"] = [render_directory_role(r, named=named) for r in roles[offset : offset + top]]
    return web.json_response(body)


def _bad_value(name: str) -> GraphProblem:
    return GraphProblem(400, "BadRequest", f"Invalid value for property '{name}'.")


def _parse_patch(body: Any) -> tuple[dict[str, Any], dict[str, Any] | None, set[frozenset[str]]]:
    """Scalar changes, the passwordProfile (or None) and the permissions each one needs."""
    if not isinstance(body, dict):
        raise GraphProblem(400, "BadRequest", _BAD_JSON)
    changes: dict[str, Any] = {}
    profile: dict[str, Any] | None = None
    needs: set[frozenset[str]] = set()
    for name, value in body.items():
        if name == "passwordProfile":
            if not isinstance(value, dict) or set(value) - _PASSWORD_PROFILE_FIELDS:
                raise _bad_value(name)
            password = value.get("password")
            if password is not None and not isinstance(password, str):
                raise _bad_value("password")
            for flag in ("forceChangePasswordNextSignIn", "forceChangePasswordNextSignInWithMfa"):
                if value.get(flag) is not None and not isinstance(value[flag], bool):
                    raise _bad_value(flag)
            profile = value
            needs.add(PASSWORD_ROLES)
        elif name == "accountEnabled":
            if not isinstance(value, bool):
                raise _bad_value(name)
            changes[name] = value
            needs.add(ENABLE_ROLES)
        elif name == "displayName":
            if not isinstance(value, str) or not value.strip():
                raise _bad_value(name)
            changes[name] = value
            needs.add(WRITE_ROLES)
        elif name == "mail":
            if value is not None and not isinstance(value, str):
                raise _bad_value(name)
            changes[name] = value
            needs.add(WRITE_ROLES)
        elif name in _READ_ONLY:
            raise GraphProblem(
                400, "BadRequest", f"Property '{name}' is read-only and cannot be set."
            )
        else:
            raise GraphProblem(
                400,
                "BadRequest",
                f"Property '{name}' does not exist as a declared property or extension property.",
            )
    return changes, profile, needs


async def update_user(request: web.Request) -> web.Response:
    """PATCH /v1.0/users/{id | upn}: passwordProfile, displayName, accountEnabled, mail."""
    granted = _granted(request)
    try:
        body = await request.json()
    except ValueError:
        raise GraphProblem(400, "BadRequest", _BAD_JSON) from None
    changes, profile, needs = _parse_patch(body)
    for allowed in needs or {WRITE_ROLES}:
        _require(granted, allowed)
    state = request.app[STATE_KEY]
    user = _find(state, _user_key(request))
    password = profile.get("password") if profile else None
    if password is not None and not complies(password, user.user_principal_name):
        raise GraphProblem(400, "Request_BadRequest", _WEAK_PASSWORD)
    if profile is not None:
        force = bool(profile.get("forceChangePasswordNextSignIn")) or bool(
            profile.get("forceChangePasswordNextSignInWithMfa")
        )
        if password is not None:
            state.set_password(user, password, force_change=force)
        else:
            user.force_change_password = force
    if "displayName" in changes:
        user.display_name = changes["displayName"]
    if "accountEnabled" in changes:
        user.account_enabled = changes["accountEnabled"]
    if "mail" in changes:
        user.mail = changes["mail"]
    return web.Response(status=204)


async def unknown_path(request: web.Request) -> web.Response:
    """Anything else under /v1.0 or /beta: Graph's "segment not found" or 405."""
    tail = request.match_info.get("tail", "")
    if request.path.startswith("/v1.0/") and _KNOWN_PATH.fullmatch(tail):
        raise GraphProblem(
            405,
            "Request_BadRequest",
            "Specified HTTP method is not allowed for the request target.",
        )
    segments = [s for s in tail.split("/") if s]
    if segments[:1] == ["users"] and len(segments) > 2:
        segment = segments[2]
    else:
        segment = segments[0] if segments else ""
    raise GraphProblem(400, "BadRequest", f"Resource not found for the segment '{segment}'.")


def add_graph_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/v1.0/users", list_users)
    router.add_get("/v1.0/users/{id}", get_user)
    router.add_patch("/v1.0/users/{id}", update_user)
    router.add_get("/v1.0/users{key:" + _KEY_FORM + "}", get_user)
    router.add_patch("/v1.0/users{key:" + _KEY_FORM + "}", update_user)
    router.add_get("/v1.0/users/{id}/transitiveMemberOf", list_memberships)
    router.add_get("/v1.0/users{key:" + _KEY_FORM + "}/transitiveMemberOf", list_memberships)
    router.add_route("*", "/v1.0/{tail:.*}", unknown_path)
    router.add_route("*", "/beta/{tail:.*}", unknown_path)
