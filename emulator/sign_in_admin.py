"""The admin API for sign-in: groups and their members, and who is "signed in".

POST /_emulator/groups {"displayName", "id"?} → 201 the group; GET lists them;
POST /_emulator/groups/{group}/members {"user": upn or id}; DELETE .../members/{user};
PUT /_emulator/signed-in {"user": upn or id} (null signs out); GET reads it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.keys import SIGN_IN_KEY, STATE_KEY
from emulator.responses import admin_error
from emulator.sign_in import Group

__all__ = ["add_sign_in_admin_routes", "group_json"]


def group_json(group: Group) -> dict[str, Any]:
    return {"id": group.id, "displayName": group.display_name, "members": list(group.members)}


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return admin_error(400, "the body must be a JSON object")
    return body


async def groups_list(request: web.Request) -> web.Response:
    return web.json_response([group_json(g) for g in request.app[SIGN_IN_KEY].groups.values()])


async def group_create(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    name, group_id = body.get("displayName"), body.get("id")
    if not isinstance(name, str) or not name:
        return admin_error(400, "displayName is required (a string)")
    if group_id is not None and (not isinstance(group_id, str) or not group_id):
        return admin_error(400, "id must be a non-empty string when given")
    book = request.app[SIGN_IN_KEY]
    if group_id is not None and book.find_group(group_id) is not None:
        return admin_error(409, f"a group with id {group_id!r} exists")
    group = book.add_group(name, group_id.lower() if group_id else None)
    return web.json_response(group_json(group), status=201)


def _group_or_404(request: web.Request) -> Group | web.Response:
    key = request.match_info["group"]
    group = request.app[SIGN_IN_KEY].find_group(key)
    return group if group is not None else admin_error(404, f"no group {key!r}")


async def member_add(request: web.Request) -> web.Response:
    group = _group_or_404(request)
    if isinstance(group, web.Response):
        return group
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    key = body.get("user")
    user = request.app[STATE_KEY].find_user(key) if isinstance(key, str) else None
    if user is None:
        return admin_error(404, f"no user {key!r}; give a user's userPrincipalName or id")
    if user.id not in group.members:
        group.members.append(user.id)
    return web.json_response(group_json(group))


async def member_delete(request: web.Request) -> web.Response:
    group = _group_or_404(request)
    if isinstance(group, web.Response):
        return group
    user = request.app[STATE_KEY].find_user(request.match_info["user"])
    if user is None or user.id not in group.members:
        return admin_error(404, f"no member {request.match_info['user']!r} in the group")
    group.members.remove(user.id)
    return web.Response(status=204)


async def signed_in_read(request: web.Request) -> web.Response:
    user_id = request.app[SIGN_IN_KEY].signed_in
    user = request.app[STATE_KEY].find_user(user_id) if user_id else None
    return web.json_response({"user": user.user_principal_name if user else None})


async def signed_in_write(request: web.Request) -> web.Response:
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    key = body.get("user")
    book = request.app[SIGN_IN_KEY]
    if key is None:
        book.signed_in = None
        return web.json_response({"user": None})
    user = request.app[STATE_KEY].find_user(key) if isinstance(key, str) else None
    if user is None:
        return admin_error(404, f"no user {key!r}; give a user's userPrincipalName or id")
    book.signed_in = user.id
    return web.json_response({"user": user.user_principal_name})


def add_sign_in_admin_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/_emulator/groups", groups_list)
    router.add_post("/_emulator/groups", group_create)
    router.add_post("/_emulator/groups/{group}/members", member_add)
    router.add_delete("/_emulator/groups/{group}/members/{user}", member_delete)
    router.add_get("/_emulator/signed-in", signed_in_read)
    router.add_put("/_emulator/signed-in", signed_in_write)
