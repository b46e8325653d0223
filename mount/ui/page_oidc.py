"""**Sign in with Entra ID**: the dashboard as an OIDC client of an `oidc` auth method.

/ui/signin/oidc asks the method for an authorization URL (redirect_uri
<server>/ui/oidc/callback) and sends the browser there; the provider sends it back to
/ui/oidc/callback, which hands over to /ui/oidc/finish from a page of ours (the session
cookie is SameSite=Strict, so it is not sent on the provider's cross-site redirect);
finish completes the method's callback with this session's client_nonce and signs the
session in with the token it returns, exactly as a token sign-in does.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from mount.ui.api import ApiFailure
from mount.ui.page_signin import refused, start_session
from mount.ui.sessions import set_cookie
from mount.ui.views import UI_KEY, redirect, session_of

__all__ = ["CALLBACK_PATH", "routes"]

logger = logging.getLogger(__name__)

CALLBACK_PATH = "/ui/oidc/callback"


def redirect_uri(request: web.Request) -> str:
    """This server's callback address as the browser reaches it."""
    return f"{request.scheme}://{request.host}{CALLBACK_PATH}"


async def start(request: web.Request) -> web.StreamResponse:
    state = request.app[UI_KEY]
    session = session_of(request) or state.sessions.new()
    methods = state.api.oidc_methods()
    method = request.query.get("method", methods[0] if methods else "")
    if method not in methods:
        return refused(request, session, "No OIDC auth method is enabled at that path.")
    client_nonce = secrets.token_urlsafe(24)
    data = {"redirect_uri": redirect_uri(request), "client_nonce": client_nonce}
    role = request.query.get("role", "").strip()
    if role:
        data["role"] = role
    try:
        answer = await state.api.call(
            "", "POST", f"auth/{method}oidc/auth_url", data, remote=request.remote or ""
        )
    except ApiFailure as exc:
        return refused(request, session, f"Sign-in with Entra ID is not set up: {exc.sentence}.")
    url = str(answer.data.get("auth_url") or "")
    if not url:
        return refused(
            request,
            session,
            f"The role does not allow this dashboard's address: add {redirect_uri(request)} "
            f"to the role's allowed_redirect_uris (auth/{method}role/<name>).",
        )
    session.oidc_pending = (method, client_nonce)
    response = redirect(url)
    set_cookie(request, response, session)
    raise response


async def callback(request: web.Request) -> web.StreamResponse:
    """The provider's redirect: continue from a page of ours, so the cookie comes along."""
    params = {k: v for k, v in request.query.items() if k in _CALLBACK_PARAMS}
    return aiohttp_jinja2.render_template(
        "oidc_continue.html", request, {"next": f"/ui/oidc/finish?{urlencode(params)}"}
    )


_CALLBACK_PARAMS = ("state", "code", "error")


async def finish(request: web.Request) -> web.StreamResponse:
    state = request.app[UI_KEY]
    session = session_of(request)
    if session is None or session.oidc_pending is None:
        fresh = session or state.sessions.new()
        return refused(
            request,
            fresh,
            "This sign-in was not started in this browser session (or already finished): "
            "press Sign in with Entra ID again.",
        )
    method, client_nonce = session.oidc_pending
    session.oidc_pending = None
    data = {k: v for k, v in request.query.items() if k in _CALLBACK_PARAMS}
    data["client_nonce"] = client_nonce
    try:
        answer = await state.api.call(
            "", "GET", f"auth/{method}oidc/callback", data, remote=request.remote or ""
        )
    except ApiFailure as exc:
        return refused(request, session, f"Entra ID sign-in failed: {exc.sentence}.")
    token = str((answer.auth or {}).get("client_token") or "")
    if not token:
        return refused(request, session, "Entra ID sign-in failed: the method returned no token.")
    return await start_session(request, session, token, "oidc")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/signin/oidc", start),
        web.get(CALLBACK_PATH, callback),
        web.get("/ui/oidc/finish", finish),
    ]
