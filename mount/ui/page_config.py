"""The engine's connection to Entra: tenant, client id, secret or certificate, cloud, and
**Test connection**, which shows the Graph permissions the engine reports missing."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mount.ui.api import ApiFailure
from mount.ui.capabilities import capabilities_of
from mount.ui.page_roles import mount_of
from mount.ui.sessions import Session
from mount.ui.views import UiState, mount_url, page, posted_form, redirect, signed_in

__all__ = ["routes"]

# Written only when given: an empty secret or certificate keeps the stored one.
TEXT_FIELDS = ("tenant_id", "client_id", "environment", "authority_host", "graph_endpoint")
SECRET_FIELDS = ("client_secret", "client_certificate")
ENVIRONMENTS = ("AzurePublicCloud", "AzureUSGovernmentCloud", "AzureChinaCloud")


@signed_in
async def config_page(request: web.Request, session: Session, state: UiState) -> web.Response:
    mount = await mount_of(request, session, state)
    caps = await capabilities_of(state.api, session.token, [f"{mount}config"])
    config: dict[str, Any] = {}
    error = ""
    readable = caps.can(f"{mount}config", "read")
    if readable:
        try:
            answer = await state.api.call(
                session.token, "GET", f"{mount}config", remote=request.remote or ""
            )
            config = answer.data
        except ApiFailure as exc:
            if exc.status != 404:
                error = exc.sentence
    elif not caps.can(f"{mount}config", "update", "create"):
        error = "This token's policies do not allow reading or writing " + f"{mount}config."
    return page(
        request,
        "config.html",
        session,
        {
            "title": f"Configure {mount}",
            "mount": mount,
            "config": config,
            "configured": bool(config),
            "error": error,
            "writable": caps.can(f"{mount}config", "update", "create"),
            "environments": ENVIRONMENTS,
        },
    )


@signed_in
async def config_write(request: web.Request, session: Session, state: UiState) -> web.Response:
    mount = await mount_of(request, session, state)
    form = await posted_form(request, session)
    testing = form.get("action") == "test"
    data: dict[str, Any] = {}
    if not testing:
        data = {name: form.get(name, "").strip() for name in TEXT_FIELDS if name in form}
        data.update({name: form[name] for name in SECRET_FIELDS if form.get(name, "").strip()})
        if "ca_cert" in form:
            data["ca_cert"] = form["ca_cert"]
    try:
        # The engine checks a write by signing in to Entra and reports what the token
        # lacks: writing nothing new ("Test connection") re-checks the stored settings.
        answer = await state.api.call(
            session.token, "PUT", f"{mount}config", data, remote=request.remote or ""
        )
    except ApiFailure as exc:
        verb = "Connection test failed" if testing else "Configuration not saved"
        session.notify("error", f"{verb}: {exc.sentence}")
        raise redirect(f"{mount_url(mount)}config") from None
    if testing:
        session.notify("ok", "Connection test: the engine signed in to Entra.")
    else:
        session.notify("ok", "Configuration saved; the engine signed in to Entra.")
    if not answer.warnings:
        session.notify("ok", "No Graph permission is missing.")
    for warning in answer.warnings:
        session.notify("warning", f"Missing permission: {warning}")
    raise redirect(f"{mount_url(mount)}config")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/mounts/{mount}/config", config_page),
        web.post("/ui/mounts/{mount}/config", config_write),
    ]
