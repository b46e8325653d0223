"""Sign in with a token (the field **Token**, the button **Sign in**) and **Sign out**."""

from __future__ import annotations

import logging

from aiohttp import web

from mount.ui.api import ApiFailure
from mount.ui.csrf import CsrfError, check_post
from mount.ui.sessions import Session, set_cookie
from mount.ui.views import UI_KEY, page, posted_form, redirect, session_of

__all__ = ["refused", "routes", "signin_context", "start_session"]

logger = logging.getLogger(__name__)


async def signin_form(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if session is not None and session.signed_in:
        raise redirect("/ui/")
    if session is None:
        session = request.app[UI_KEY].sessions.new()
    return page(request, "signin.html", session, signin_context(request))


def signin_context(request: web.Request, error: str = "") -> dict[str, object]:
    """The sign-in page's values: its title, an error, and the OIDC methods' buttons."""
    context: dict[str, object] = {
        "title": "Sign in",
        "oidc_methods": request.app[UI_KEY].api.oidc_methods(),
    }
    if error:
        context["error"] = error
    return context


async def signin(request: web.Request) -> web.StreamResponse:
    state = request.app[UI_KEY]
    before = session_of(request)
    raw = await request.post()
    form = {key: value for key, value in raw.items() if isinstance(value, str)}
    try:
        check_post(request, before, form)
    except CsrfError as exc:
        # Often a sign-in page left open too long: a fresh one, saying why.
        return refused(request, state.sessions.new(), f"Not signed in: {exc}.")
    assert before is not None  # check_post refused a POST without a session
    token = form.get("token", "").strip()
    if not token:
        return refused(request, before, "Enter a token to sign in.")
    return await start_session(request, before, token, "token")


async def start_session(
    request: web.Request, before: Session, token: str, how: str
) -> web.StreamResponse:
    """Sign `before`'s browser in with `token` (checked by lookup-self) and go to /ui/."""
    state = request.app[UI_KEY]
    try:
        answer = await state.api.call(
            token, "GET", "auth/token/lookup-self", remote=request.remote or ""
        )
    except ApiFailure as exc:
        return refused(
            request,
            before,
            f"The server refused this token ({exc.sentence}): check that it is a live token "
            "whose policies allow auth/token/lookup-self.",
        )
    # A new session id at sign-in, so an id seen before it grants nothing after.
    state.sessions.end(before)
    session = state.sessions.sign_in(token)
    data = answer.data
    session.display_name = str(data.get("display_name") or "token")
    session.policies = tuple(str(p) for p in data.get("policies") or ())
    session.accessor = str(data.get("accessor") or "")
    logger.info("ui signed in accessor=%s with=%s", session.accessor, how)
    response = redirect("/ui/")
    set_cookie(request, response, session)
    raise response


def refused(request: web.Request, session: Session, sentence: str) -> web.Response:
    """The sign-in page again (403), saying why."""
    return page(request, "signin.html", session, signin_context(request, sentence), status=403)


async def signout(request: web.Request) -> web.StreamResponse:
    state = request.app[UI_KEY]
    session = session_of(request)
    await posted_form(request, session)
    assert session is not None
    logger.info("ui signed out accessor=%s", session.accessor)
    state.sessions.end(session)
    fresh = state.sessions.new()
    fresh.notify("ok", "Signed out. The token itself is still valid until it expires.")
    response = redirect("/ui/signin")
    set_cookie(request, response, fresh)
    raise response


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/signin", signin_form),
        web.post("/ui/signin", signin),
        web.post("/ui/signout", signout),
    ]
