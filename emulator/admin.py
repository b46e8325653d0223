"""The operator and test API under /_emulator/: users and their directory roles,
permissions, faults, call counts.

No authentication: this is a test tool. It never returns a password or the client secret.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.directory import DirectoryRole, DirectoryRoleError
from emulator.faults import FaultSpecError
from emulator.keys import CALLS_KEY, FAULTS_KEY, STATE_KEY
from emulator.responses import admin_error
from emulator.state import User, UserError

__all__ = ["add_admin_routes", "directory_role_json", "user_json"]


def user_json(user: User) -> dict[str, Any]:
    changed = user.password_changed_at
    return {
        "id": user.id,
        "userPrincipalName": user.user_principal_name,
        "displayName": user.display_name,
        "accountEnabled": user.account_enabled,
        "forceChangePasswordNextSignIn": user.force_change_password,
        "password_changes": user.password_changes,
        "password_changed_at": changed.isoformat() if changed is not None else None,
    }


def directory_role_json(role: DirectoryRole) -> dict[str, Any]:
    return {
        "id": role.id,
        "roleTemplateId": role.role_template_id,
        "displayName": role.display_name,
    }


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(reason="the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="the body must be a JSON object")
    return body


async def users_list(request: web.Request) -> web.Response:
    return web.json_response([user_json(u) for u in request.app[STATE_KEY].users()])


async def user_read(request: web.Request) -> web.Response:
    user = request.app[STATE_KEY].find_user(request.match_info["key"])
    if user is None:
        return admin_error(404, f"no user {request.match_info['key']!r}")
    return web.json_response(user_json(user))


async def user_create(request: web.Request) -> web.Response:
    """POST {"userPrincipalName", "displayName"?, "password"?, "accountEnabled"?} → 201."""
    body = await _json_object(request)
    upn = body.get("userPrincipalName")
    display_name = body.get("displayName")
    password = body.get("password")
    enabled = body.get("accountEnabled", True)
    errors = []
    if not isinstance(upn, str) or not upn:
        errors.append("userPrincipalName is required (a string)")
    if display_name is not None and not isinstance(display_name, str):
        errors.append("displayName must be a string")
    if password is not None and (not isinstance(password, str) or not password):
        errors.append("password must be a non-empty string")
    if not isinstance(enabled, bool):
        errors.append("accountEnabled must be true or false")
    if errors or not isinstance(upn, str):
        return admin_error(400, "; ".join(errors))
    state = request.app[STATE_KEY]
    if state.find_user(upn) is not None:
        return admin_error(409, f"a user with userPrincipalName {upn!r} exists")
    try:
        user = state.add_user(
            upn, display_name=display_name, password=password, account_enabled=enabled
        )
    except UserError as exc:
        return admin_error(400, str(exc))
    return web.json_response(user_json(user), status=201)


async def user_delete(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    if request.app[STATE_KEY].remove_user(key) is None:
        return admin_error(404, f"no user {key!r}")
    return web.Response(status=204)


async def directory_roles_list(request: web.Request) -> web.Response:
    """The tenant's activated directory roles, each with its members' UPNs."""
    state = request.app[STATE_KEY]
    return web.json_response(
        [
            {
                **directory_role_json(role),
                "members": [u.user_principal_name for u in state.members_of(role)],
            }
            for role in state.activated_directory_roles()
        ]
    )


def _user_or_404(request: web.Request) -> User | web.Response:
    user = request.app[STATE_KEY].find_user(request.match_info["key"])
    if user is None:
        return admin_error(404, f"no user {request.match_info['key']!r}")
    return user


async def user_roles_read(request: web.Request) -> web.Response:
    user = _user_or_404(request)
    if isinstance(user, web.Response):
        return user
    roles = request.app[STATE_KEY].directory_roles_of(user)
    return web.json_response([directory_role_json(r) for r in roles])


async def user_role_add(request: web.Request) -> web.Response:
    """POST {"roleTemplateId"? , "displayName"?}: 201 when granted, 200 if already held."""
    body = await _json_object(request)
    template_id = body.get("roleTemplateId")
    display_name = body.get("displayName")
    errors = []
    if template_id is not None and (not isinstance(template_id, str) or not template_id):
        errors.append("roleTemplateId must be a non-empty string")
    if display_name is not None and (not isinstance(display_name, str) or not display_name):
        errors.append("displayName must be a non-empty string")
    if template_id is None and display_name is None:
        errors.append("give roleTemplateId or displayName (a built-in role's name)")
    if errors:
        return admin_error(400, "; ".join(errors))
    user = _user_or_404(request)
    if isinstance(user, web.Response):
        return user
    key = template_id if isinstance(template_id, str) else str(display_name)
    name = display_name if isinstance(template_id, str) else None
    try:
        role, added = request.app[STATE_KEY].assign_directory_role(user, key, display_name=name)
    except DirectoryRoleError as exc:
        return admin_error(400, str(exc))
    return web.json_response(directory_role_json(role), status=201 if added else 200)


async def user_role_delete(request: web.Request) -> web.Response:
    user = _user_or_404(request)
    if isinstance(user, web.Response):
        return user
    role = request.match_info["role"]
    if request.app[STATE_KEY].remove_directory_role(user, role) is None:
        return admin_error(404, f"user {user.user_principal_name!r} has no directory role {role!r}")
    return web.Response(status=204)


async def permissions_read(request: web.Request) -> web.Response:
    return web.json_response({"roles": request.app[STATE_KEY].roles})


async def permissions_write(request: web.Request) -> web.Response:
    """PUT {"roles": [...]}: the app's Graph application permissions for new tokens."""
    body = await _json_object(request)
    roles = body.get("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
        return admin_error(400, "roles must be a list of permission names")
    state = request.app[STATE_KEY]
    state.roles = roles
    return web.json_response({"roles": state.roles})


async def faults_list(request: web.Request) -> web.Response:
    return web.json_response([f.to_json() for f in request.app[FAULTS_KEY].active()])


async def faults_add(request: web.Request) -> web.Response:
    body = await _json_object(request)
    try:
        fault = request.app[FAULTS_KEY].add(body)
    except FaultSpecError as exc:
        return admin_error(400, str(exc))
    return web.json_response(fault.to_json(), status=201)


async def faults_clear(request: web.Request) -> web.Response:
    request.app[FAULTS_KEY].clear()
    return web.Response(status=204)


async def fault_delete(request: web.Request) -> web.Response:
    if not request.app[FAULTS_KEY].remove(request.match_info["id"]):
        return admin_error(404, f"no active fault {request.match_info['id']!r}")
    return web.Response(status=204)


async def calls_read(request: web.Request) -> web.Response:
    return web.json_response(dict(sorted(request.app[CALLS_KEY].items())))


async def calls_reset(request: web.Request) -> web.Response:
    request.app[CALLS_KEY].clear()
    return web.Response(status=204)


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "tenant_id": request.app[STATE_KEY].tenant_id})


def add_admin_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/_emulator/health", health)
    router.add_get("/_emulator/users", users_list)
    router.add_post("/_emulator/users", user_create)
    router.add_get("/_emulator/users/{key}", user_read)
    router.add_delete("/_emulator/users/{key}", user_delete)
    router.add_get("/_emulator/users/{key}/directoryRoles", user_roles_read)
    router.add_post("/_emulator/users/{key}/directoryRoles", user_role_add)
    router.add_delete("/_emulator/users/{key}/directoryRoles/{role}", user_role_delete)
    router.add_get("/_emulator/directoryRoles", directory_roles_list)
    router.add_get("/_emulator/permissions", permissions_read)
    router.add_put("/_emulator/permissions", permissions_write)
    router.add_get("/_emulator/faults", faults_list)
    router.add_post("/_emulator/faults", faults_add)
    router.add_delete("/_emulator/faults", faults_clear)
    router.add_delete("/_emulator/faults/{id}", fault_delete)
    router.add_get("/_emulator/calls", calls_read)
    router.add_delete("/_emulator/calls", calls_reset)
