"""Graph calls that create and remove credentials: users' Temporary Access Passes and
applications' password credentials (addPassword / removePassword)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from emulator.credentials import TAP_MAX_MINUTES, TAP_MIN_MINUTES, Application
from emulator.graph import _BAD_JSON, _find, _granted, _require, _user_key
from emulator.keys import STATE_KEY
from emulator.oauth_common import base_url
from emulator.responses import GraphProblem
from emulator.state import ApplicationError

__all__ = [
    "APPLICATION_READ_ROLES",
    "APPLICATION_WRITE_ROLES",
    "AUTH_METHOD_ROLES",
    "add_credential_routes",
]

AUTH_METHOD_ROLES = frozenset({"UserAuthenticationMethod.ReadWrite.All"})
AUTH_METHOD_READ_ROLES = AUTH_METHOD_ROLES | {"UserAuthenticationMethod.Read.All"}
# The emulator does not model ownership: OwnedBy counts as owning every application.
APPLICATION_WRITE_ROLES = frozenset({"Application.ReadWrite.All", "Application.ReadWrite.OwnedBy"})
APPLICATION_READ_ROLES = APPLICATION_WRITE_ROLES | {"Application.Read.All"}
_DEFAULT_TAP_MINUTES = 60  # the methods policy's default lifetime

_TAP_PATH = "/authentication/temporaryAccessPassMethods"
_APP_KEY_FORM = r"\(appId='[0-9A-Za-z-]+'\)"


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise GraphProblem(400, "BadRequest", _BAD_JSON) from None
    if not isinstance(body, dict):
        raise GraphProblem(400, "BadRequest", _BAD_JSON)
    return body


def _date(body: dict[str, Any], name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise GraphProblem(400, "BadRequest", f"Invalid value for property '{name}'.") from None
    if moment.tzinfo is None:
        raise GraphProblem(400, "BadRequest", f"Invalid value for property '{name}'.")
    return moment


# -- Temporary Access Passes -------------------------------------------------------------


async def tap_create(request: web.Request) -> web.Response:
    """POST /users/{id}/authentication/temporaryAccessPassMethods → 201 with the pass."""
    _require(_granted(request), AUTH_METHOD_ROLES)
    body = await _body(request)
    state = request.app[STATE_KEY]
    user = _find(state, _user_key(request))
    lifetime = body.get("lifetimeInMinutes", _DEFAULT_TAP_MINUTES)
    once = body.get("isUsableOnce", False)
    if (
        not isinstance(lifetime, int)
        or isinstance(lifetime, bool)
        or not TAP_MIN_MINUTES <= lifetime <= TAP_MAX_MINUTES
    ):
        raise GraphProblem(
            400,
            "badRequest",
            f"lifetimeInMinutes must be between {TAP_MIN_MINUTES} and {TAP_MAX_MINUTES} "
            "minutes, as the Temporary Access Pass policy allows.",
        )
    if not isinstance(once, bool):
        raise GraphProblem(400, "BadRequest", "Invalid value for property 'isUsableOnce'.")
    tap, text = state.create_tap(
        user,
        start=_date(body, "startDateTime"),
        lifetime_in_minutes=lifetime,
        is_usable_once=once,
    )
    context = (
        f"{base_url(request)}/v1.0/$metadata#users('{user.id}')/authentication/"
        "temporaryAccessPassMethods/$entity"
    )
    return web.json_response(
        {"@odata.context": context, **tap.to_graph(state.now(), secret=text)}, status=201
    )


async def tap_list(request: web.Request) -> web.Response:
    _require(_granted(request), AUTH_METHOD_READ_ROLES)
    state = request.app[STATE_KEY]
    user = _find(state, _user_key(request))
    now = state.now()
    return web.json_response({"value": [t.to_graph(now) for t in user.temporary_access_passes]})


def _tap_not_found(tap_id: str) -> GraphProblem:
    return GraphProblem(
        404, "itemNotFound", f"Temporary Access Pass method '{tap_id}' was not found."
    )


async def tap_read(request: web.Request) -> web.Response:
    _require(_granted(request), AUTH_METHOD_READ_ROLES)
    state = request.app[STATE_KEY]
    user = _find(state, _user_key(request))
    tap_id = request.match_info["tap"].lower()
    for tap in user.temporary_access_passes:
        if tap.id == tap_id:
            return web.json_response(tap.to_graph(state.now()))
    raise _tap_not_found(tap_id)


async def tap_delete(request: web.Request) -> web.Response:
    _require(_granted(request), AUTH_METHOD_ROLES)
    state = request.app[STATE_KEY]
    user = _find(state, _user_key(request))
    tap_id = request.match_info["tap"]
    if not state.delete_tap(user, tap_id):
        raise _tap_not_found(tap_id)
    return web.Response(status=204)


# -- applications --------------------------------------------------------------------


def _application(request: web.Request) -> Application:
    state = request.app[STATE_KEY]
    if "appkey" in request.match_info:
        key = request.match_info["appkey"][len("(appId='") : -len("')")]
    else:
        key = request.match_info["app"]
    found = state.find_application(key)
    if found is None or ("app" in request.match_info and found.id != key.lower()):
        raise GraphProblem(
            404,
            "Request_ResourceNotFound",
            f"Resource '{key}' does not exist or one of its queried reference-property "
            "objects are not present.",
        )
    return found


async def application_read(request: web.Request) -> web.Response:
    """GET /applications/{id} or /applications(appId='…'): credentials without secrets."""
    _require(_granted(request), APPLICATION_READ_ROLES)
    app = _application(request)
    context = f"{base_url(request)}/v1.0/$metadata#applications/$entity"
    return web.json_response({"@odata.context": context, **app.to_graph()})


async def add_password(request: web.Request) -> web.Response:
    """POST /applications/{id}/addPassword {passwordCredential} → the new secretText."""
    _require(_granted(request), APPLICATION_WRITE_ROLES)
    body = await _body(request)
    wanted = body.get("passwordCredential", {})
    if not isinstance(wanted, dict):
        raise GraphProblem(400, "BadRequest", "Invalid value for property 'passwordCredential'.")
    name = wanted.get("displayName") or ""
    if not isinstance(name, str):
        raise GraphProblem(400, "BadRequest", "Invalid value for property 'displayName'.")
    state = request.app[STATE_KEY]
    app = _application(request)
    try:
        credential, text = state.add_password(
            app, name, _date(wanted, "endDateTime"), start=_date(wanted, "startDateTime")
        )
    except ApplicationError as exc:
        raise GraphProblem(400, "InvalidKeyEndDate", str(exc)) from None
    context = f"{base_url(request)}/v1.0/$metadata#microsoft.graph.passwordCredential"
    return web.json_response(
        {"@odata.context": context, **credential.to_graph(), "secretText": text}
    )


async def remove_password(request: web.Request) -> web.Response:
    """POST /applications/{id}/removePassword {keyId} → 204."""
    _require(_granted(request), APPLICATION_WRITE_ROLES)
    body = await _body(request)
    key_id = body.get("keyId")
    if not isinstance(key_id, str) or not key_id:
        raise GraphProblem(400, "BadRequest", "Invalid value for property 'keyId'.")
    state = request.app[STATE_KEY]
    app = _application(request)
    if not state.remove_password(app, key_id):
        raise GraphProblem(
            400,
            "Request_BadRequest",
            f"No password credential found with keyId '{key_id}' on the application.",
        )
    return web.Response(status=204)


def add_credential_routes(router: web.UrlDispatcher) -> None:
    """Routes to add before Graph's catch-all ones."""
    for users in ("/v1.0/users/{id}", "/v1.0/users{key:" + r"\('(?:[^']|'')*'\)" + "}"):
        router.add_post(users + _TAP_PATH, tap_create)
        router.add_get(users + _TAP_PATH, tap_list)
        router.add_get(users + _TAP_PATH + "/{tap}", tap_read)
        router.add_delete(users + _TAP_PATH + "/{tap}", tap_delete)
    for app in ("/v1.0/applications/{app}", "/v1.0/applications{appkey:" + _APP_KEY_FORM + "}"):
        router.add_get(app, application_read)
        router.add_post(app + "/addPassword", add_password)
        router.add_post(app + "/removePassword", remove_password)
