"""The lease table of a whole mount, and the per-lease actions every lease table posts:
**Renew** (by an increment, capped at the max TTL), **Revoke** and force revoke."""

from __future__ import annotations

from aiohttp import web

from mount.sdk.durations import format_duration
from mount.ui.api import ApiFailure
from mount.ui.capabilities import capabilities_of
from mount.ui.data import LeaseRow, leases_under
from mount.ui.page_role import RENEW_PRESETS
from mount.ui.page_roles import mount_of
from mount.ui.sessions import Session
from mount.ui.views import UiState, mount_url, page, posted_form, redirect, signed_in

__all__ = ["routes"]


@signed_in
async def mount_leases(request: web.Request, session: Session, state: UiState) -> web.Response:
    mount = await mount_of(request, session, state)
    listing = f"sys/leases/lookup/{mount}creds/"
    caps = await capabilities_of(
        state.api,
        session.token,
        [
            listing,
            "sys/leases/renew",
            "sys/leases/revoke",
            f"sys/leases/revoke-force/{mount}creds",
        ],
    )
    leases: list[LeaseRow] = []
    total, error = 0, ""
    listable = caps.sudo(listing, "list")
    if listable:
        try:
            leases, total = await leases_under(
                state.api, session, mount, None, request.remote or ""
            )
        except ApiFailure as exc:
            error = exc.sentence
    else:
        error = f"This token's policies do not allow listing the leases of {mount} (sudo)."
    return page(
        request,
        "leases.html",
        session,
        {
            "title": f"Leases of {mount}",
            "mount": mount,
            "leases": leases,
            "lease_total": total,
            "lease_error": error,
            "listable": listable,
            "renew_presets": RENEW_PRESETS,
            "back": f"{mount_url(mount)}leases",
            "can_renew": caps.can("sys/leases/renew", "update"),
            "can_revoke": caps.can("sys/leases/revoke", "update"),
            "can_force": caps.sudo(f"sys/leases/revoke-force/{mount}creds", "update"),
        },
    )


def back_to(form: dict[str, str]) -> str:
    """Where to go after an action: a dashboard page, never another site."""
    back = form.get("back", "")
    return back if back.startswith("/ui/") and "//" not in back else "/ui/"


@signed_in
async def renew(request: web.Request, session: Session, state: UiState) -> web.Response:
    form = await posted_form(request, session)
    lease_id = form.get("lease_id", "")
    increment = form.get("increment", "").strip()
    data = {"lease_id": lease_id, **({"increment": increment} if increment else {})}
    try:
        answer = await state.api.call(
            session.token, "PUT", "sys/leases/renew", data, remote=request.remote or ""
        )
    except ApiFailure as exc:
        session.notify("error", f"Lease {lease_id} was not renewed: {exc.sentence}")
    else:
        session.notify(
            "ok",
            f"Lease {lease_id} renewed: it now ends in {format_duration(answer.lease_duration)}.",
        )
        for warning in answer.warnings:
            session.notify("warning", f"Capped at the max TTL: {warning}")
    raise redirect(back_to(form))


@signed_in
async def revoke(request: web.Request, session: Session, state: UiState) -> web.Response:
    form = await posted_form(request, session)
    lease_id = form.get("lease_id", "")
    force = form.get("force") == "true"
    path = f"sys/leases/revoke-force/{lease_id}" if force else "sys/leases/revoke"
    data = {} if force else {"lease_id": lease_id}
    try:
        await state.api.call(session.token, "PUT", path, data, remote=request.remote or "")
    except ApiFailure as exc:
        session.notify("error", f"Lease {lease_id} was not revoked: {exc.sentence}")
    else:
        done = "force-revoked (the broker stops tracking it)" if force else "revoked"
        session.notify("ok", f"Lease {lease_id} {done}.")
    raise redirect(back_to(form))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/mounts/{mount}/leases", mount_leases),
        web.post("/ui/leases/renew", renew),
        web.post("/ui/leases/revoke", revoke),
    ]
