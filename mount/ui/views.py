"""What every dashboard page shares: its state on the app, the session, forms, rendering."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from mount.ui.api import ApiFailure, UiApi
from mount.ui.csrf import CSRF_FIELD, CsrfError, check_post
from mount.ui.sessions import COOKIE_NAME, Session, SessionStore, set_cookie

__all__ = [
    "UI_KEY",
    "Handler",
    "UiState",
    "mount_url",
    "page",
    "posted_form",
    "redirect",
    "session_of",
    "signed_in",
]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# A signed-in page handler: the request, its session and the API client.
PageHandler = Callable[[web.Request, Session, "UiState"], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class UiState:
    api: UiApi
    sessions: SessionStore
    # Engine types whose mounts the dashboard lists.
    engine_types: tuple[str, ...]


UI_KEY = web.AppKey("ui", UiState)


def session_of(request: web.Request) -> Session | None:
    """The session the cookie names, if it still exists."""
    session_id = request.cookies.get(COOKIE_NAME, "")
    return request.app[UI_KEY].sessions.get(session_id) if session_id else None


def mount_url(mount: str) -> str:
    """The dashboard address of a mount's page (`entra/` -> /ui/mounts/entra/)."""
    return f"/ui/mounts/{mount.strip('/')}/"


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def page(
    request: web.Request,
    template: str,
    session: Session | None,
    context: dict[str, Any],
    *,
    status: int = 200,
) -> web.Response:
    """Render a page with what the base template needs."""
    base: dict[str, Any] = {
        "session": session,
        "csrf_field": CSRF_FIELD,
        "csrf": session.csrf if session is not None else "",
        "notices": session.take_notices() if session is not None else [],
        "mount_url": mount_url,
    }
    response = aiohttp_jinja2.render_template(template, request, {**base, **context})
    response.set_status(status)
    if session is not None:
        set_cookie(request, response, session)
    return response


async def posted_form(request: web.Request, session: Session | None) -> dict[str, str]:
    """The POST's form fields, after the CSRF checks (403 with a sentence if they fail)."""
    raw = await request.post()
    form = {key: value for key, value in raw.items() if isinstance(value, str)}
    try:
        check_post(request, session, form)
    except CsrfError as exc:
        raise web.HTTPForbidden(text=str(exc), content_type="text/plain") from None
    return form


async def _token_alive(state: UiState, session: Session, remote: str) -> bool:
    """Ask the API (lookup-self) whether the session's token still works."""
    try:
        await state.api.call(session.token, "GET", "auth/token/lookup-self", remote=remote)
    except ApiFailure:
        return False
    return True


def signed_in(handler: PageHandler) -> Handler:
    """A page for signed-in users: others (and ended tokens) go to the sign-in page."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        state = request.app[UI_KEY]
        session = session_of(request)
        if session is None or not session.signed_in:
            raise redirect("/ui/signin")
        if not await _token_alive(state, session, request.remote or ""):
            logger.info("ui session ended reason=token_gone accessor=%s", session.accessor)
            state.sessions.end(session)
            fresh = state.sessions.new()
            fresh.notify("error", "Your session ended: the token expired or was revoked.")
            response = redirect("/ui/signin")
            set_cookie(request, response, fresh)
            raise response
        return await handler(request, session, state)

    return wrapped
