"""Admin API for credentials and time: applications and their certificates, users'
Temporary Access Passes, the tenant clock and the propagation delay.

No authentication, like the rest of /_emulator/; it never returns a secret or a pass.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.credentials import Application, CertificateError, iso
from emulator.keys import STATE_KEY
from emulator.responses import admin_error

__all__ = ["add_credential_admin_routes", "application_json"]


def application_json(app: Application) -> dict[str, Any]:
    """Graph's view of the application, plus each secret's sign-in count (admin only)."""
    passwords = [{**p.to_graph(), "signIns": p.sign_ins} for p in app.password_credentials]
    return {**app.to_graph(), "passwordCredentials": passwords}


async def _json_object(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return admin_error(400, "the body must be a JSON object")
    return body


async def clock_read(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return web.json_response(
        {"now": iso(state.now()), "offset_seconds": state.clock_offset.total_seconds()}
    )


async def clock_advance(request: web.Request) -> web.Response:
    """POST {"advance_seconds": N}: move the tenant's clock forward (expiry checks only)."""
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    seconds = body.get("advance_seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return admin_error(400, "advance_seconds must be a number of seconds, 0 or more")
    request.app[STATE_KEY].advance_clock(float(seconds))
    return await clock_read(request)


async def propagation_read(request: web.Request) -> web.Response:
    return web.json_response({"seconds": request.app[STATE_KEY].propagation_delay})


async def propagation_write(request: web.Request) -> web.Response:
    """PUT {"seconds": N}: new client secrets are refused for N seconds after creation."""
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        return admin_error(400, "seconds must be a number, 0 or more")
    request.app[STATE_KEY].propagation_delay = float(seconds)
    return await propagation_read(request)


async def applications_list(request: web.Request) -> web.Response:
    return web.json_response([application_json(a) for a in request.app[STATE_KEY].applications()])


async def application_create(request: web.Request) -> web.Response:
    """POST {"displayName"} → 201 with id (object id) and appId."""
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    name = body.get("displayName")
    if not isinstance(name, str) or not name.strip():
        return admin_error(400, "displayName is required (a non-empty string)")
    app = request.app[STATE_KEY].add_application(name.strip())
    return web.json_response(application_json(app), status=201)


def _application_or_404(request: web.Request) -> Application | web.Response:
    key = request.match_info["key"]
    app = request.app[STATE_KEY].find_application(key)
    if app is None:
        return admin_error(404, f"no application {key!r}")
    return app


async def application_read(request: web.Request) -> web.Response:
    app = _application_or_404(request)
    if isinstance(app, web.Response):
        return app
    return web.json_response(application_json(app))


async def certificate_add(request: web.Request) -> web.Response:
    """POST {"certificate": PEM, "displayName"?}: register a certificate on the app."""
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    pem = body.get("certificate")
    name = body.get("displayName", "")
    if not isinstance(pem, str) or not isinstance(name, str):
        return admin_error(400, "certificate (PEM text) is required; displayName is a string")
    app = _application_or_404(request)
    if isinstance(app, web.Response):
        return app
    try:
        key = request.app[STATE_KEY].add_certificate(app, pem, name)
    except CertificateError as exc:
        return admin_error(400, str(exc))
    return web.json_response(key.to_graph(), status=201)


async def taps_read(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    user = state.find_user(request.match_info["key"])
    if user is None:
        return admin_error(404, f"no user {request.match_info['key']!r}")
    now = state.now()
    return web.json_response([t.to_graph(now) for t in user.temporary_access_passes])


async def tap_sign_in(request: web.Request) -> web.Response:
    """POST {"temporaryAccessPass"}: would it sign the user in now? A one-time pass is spent."""
    body = await _json_object(request)
    if isinstance(body, web.Response):
        return body
    text = body.get("temporaryAccessPass")
    if not isinstance(text, str) or not text:
        return admin_error(400, "temporaryAccessPass is required (a string)")
    state = request.app[STATE_KEY]
    user = state.find_user(request.match_info["key"])
    if user is None:
        return admin_error(404, f"no user {request.match_info['key']!r}")
    worked, reason = state.use_tap(user, text)
    return web.json_response({"signed_in": worked, "reason": reason})


def add_credential_admin_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/_emulator/clock", clock_read)
    router.add_post("/_emulator/clock", clock_advance)
    router.add_get("/_emulator/propagation", propagation_read)
    router.add_put("/_emulator/propagation", propagation_write)
    router.add_get("/_emulator/applications", applications_list)
    router.add_post("/_emulator/applications", application_create)
    router.add_get("/_emulator/applications/{key}", application_read)
    router.add_post("/_emulator/applications/{key}/certificates", certificate_add)
    router.add_get("/_emulator/users/{key}/temporaryAccessPasses", taps_read)
    router.add_post("/_emulator/users/{key}/temporaryAccessPasses/signIn", tap_sign_in)
