"""The first page: the Entra engine's mounts the token reaches, each linking to its roles."""

from __future__ import annotations

from aiohttp import web

from mount.ui.api import ApiFailure
from mount.ui.data import engine_mounts
from mount.ui.sessions import Session
from mount.ui.views import UiState, page, redirect, signed_in

__all__ = ["routes"]


@signed_in
async def mounts_page(request: web.Request, session: Session, state: UiState) -> web.Response:
    error = ""
    try:
        mounts = await engine_mounts(state.api, session, state.engine_types, request.remote or "")
    except ApiFailure as exc:
        mounts, error = {}, exc.sentence
    return page(
        request,
        "mounts.html",
        session,
        {"title": "Entra mounts", "mounts": mounts, "error": error},
    )


async def ui_root(request: web.Request) -> web.StreamResponse:
    raise redirect("/ui/")


def routes() -> list[web.RouteDef]:
    return [web.get("/ui/", mounts_page), web.get("/ui", ui_root)]
