"""Irrevocable leases (`sys/leases?type=irrevocable`): each with its last error and
**Retry**, which asks the API to revoke it again."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mount.ui.api import ApiFailure
from mount.ui.capabilities import capabilities_of
from mount.ui.sessions import Session
from mount.ui.views import UiState, page, posted_form, redirect, signed_in

__all__ = ["routes"]


@signed_in
async def irrevocable_page(request: web.Request, session: Session, state: UiState) -> web.Response:
    leases: list[dict[str, Any]] = []
    error = ""
    try:
        answer = await state.api.call(
            session.token,
            "GET",
            "sys/leases",
            {"type": "irrevocable"},
            remote=request.remote or "",
        )
        leases = [le for le in answer.data.get("leases") or [] if isinstance(le, dict)]
    except ApiFailure as exc:
        error = exc.sentence
    caps = await capabilities_of(
        state.api,
        session.token,
        ["sys/leases/revoke", *(f"sys/leases/revoke-force/{le['lease_id']}" for le in leases)],
    )
    for lease in leases:
        lease["can_force"] = caps.sudo(f"sys/leases/revoke-force/{lease['lease_id']}", "update")
    return page(
        request,
        "irrevocable.html",
        session,
        {
            "title": "Irrevocable leases",
            "leases": leases,
            "error": error,
            "can_retry": caps.can("sys/leases/revoke", "update"),
            "back": "/ui/irrevocable",
        },
    )


@signed_in
async def retry(request: web.Request, session: Session, state: UiState) -> web.Response:
    form = await posted_form(request, session)
    lease_id = form.get("lease_id", "")
    try:
        await state.api.call(
            session.token,
            "PUT",
            "sys/leases/revoke",
            {"lease_id": lease_id},
            remote=request.remote or "",
        )
    except ApiFailure as exc:
        session.notify("error", f"Lease {lease_id} is still not revoked: {exc.sentence}")
    else:
        session.notify("ok", f"Lease {lease_id} revoked.")
    raise redirect("/ui/irrevocable")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/irrevocable", irrevocable_page),
        web.post("/ui/irrevocable/retry", retry),
    ]
