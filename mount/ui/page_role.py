"""A role's page: its settings, **Generate** (a credential shown once, in a dialog), its
live leases, and **Revoke all** behind a confirmation."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mount.sdk.durations import DurationError, format_duration, parse_duration
from mount.ui.api import ApiFailure
from mount.ui.capabilities import Capabilities, capabilities_of
from mount.ui.data import LeaseRow, lease_rows, leases_under
from mount.ui.page_roles import mount_of
from mount.ui.sessions import Session
from mount.ui.views import UiState, mount_url, page, posted_form, redirect, signed_in

__all__ = ["lease_paths", "routes"]

# TTL choices offered for Generate (those above the role's max TTL are left out).
TTL_PRESETS = (("15m", 900), ("1h", 3600), ("4h", 14400), ("8h", 28800), ("24h", 86400))
# Renew increments offered per lease row.
RENEW_PRESETS = (("15m", 900), ("1h", 3600), ("4h", 14400), ("24h", 86400))
# The secret field of each credential type, with the label it gets in the dialog.
SECRET_FIELDS = (
    ("password", "Password"),
    ("temporary_access_pass", "Temporary Access Pass"),
    ("client_secret", "Client secret"),
)


def lease_paths(mount: str, role: str) -> list[str]:
    prefix = f"{mount}creds/{role}"
    return [
        f"sys/leases/lookup/{prefix}/",
        f"sys/leases/revoke-prefix/{prefix}",
        f"sys/leases/revoke-force/{prefix}",
        "sys/leases/renew",
        "sys/leases/revoke",
    ]


def role_url(mount: str, role: str) -> str:
    return f"{mount_url(mount)}roles/{role}"


async def _max_ttl(
    request: web.Request, session: Session, state: UiState, mount: str, role: dict[str, Any]
) -> int | None:
    """The role's effective max TTL in seconds (its own, else the mount's); None if the
    token may read neither."""
    own = role.get("max_ttl")
    if isinstance(own, int) and own > 0:
        return own
    try:
        tune = await state.api.call(
            session.token, "GET", f"sys/mounts/{mount}tune", remote=request.remote or ""
        )
    except ApiFailure:
        return None
    value = tune.data.get("max_lease_ttl")
    return value if isinstance(value, int) and value > 0 else None


async def _role_context(
    request: web.Request, session: Session, state: UiState
) -> tuple[str, str, dict[str, Any]]:
    mount = await mount_of(request, session, state)
    name = request.match_info["role"]
    remote = request.remote or ""
    caps = await capabilities_of(
        state.api, session.token, [f"{mount}creds/{name}", *lease_paths(mount, name)]
    )
    role: dict[str, Any] = {}
    role_error = ""
    missing = False
    try:
        role = (
            await state.api.call(session.token, "GET", f"{mount}roles/{name}", remote=remote)
        ).data
    except ApiFailure as exc:
        missing = exc.status == 404
        role_error = f"role {name} does not exist" if missing else exc.sentence
    max_ttl = await _max_ttl(request, session, state, mount, role) if role else None
    leases: list[LeaseRow] = []
    total, lease_error = 0, ""
    listable = caps.sudo(f"sys/leases/lookup/{mount}creds/{name}/", "list")
    if listable:
        try:
            leases, total = await leases_under(state.api, session, mount, name, remote)
        except ApiFailure as exc:
            lease_error = exc.sentence
    else:
        # A token that may not list leases still sees those it got in this session.
        mine = [i for i in session.issued if i.startswith(f"{mount}creds/{name}/")]
        leases, total = await lease_rows(state.api, session, mount, mine, remote)
    context = {
        "title": f"Role {name}",
        "mount": mount,
        "name": name,
        "role": role,
        "role_error": role_error,
        "max_ttl": max_ttl,
        "max_ttl_text": format_duration(max_ttl) if max_ttl else "",
        "presets": [(t, s) for t, s in TTL_PRESETS if max_ttl is None or s <= max_ttl],
        "renew_presets": RENEW_PRESETS,
        # (A token that may not read the role may still Generate: only a role known
        # to be missing hides the button.)
        "can_generate": caps.can(f"{mount}creds/{name}", "read") and not missing,
        # Each rendered Generate form issues at most once: a reload of its answer, or a
        # double click, must not reset the password again behind the one just shown.
        "once": session.once_token() if caps.can(f"{mount}creds/{name}", "read") else "",
        "listable": listable,
        "leases": leases,
        "lease_total": total,
        "lease_error": lease_error,
        "back": role_url(mount, name),
        **_lease_actions(caps, mount, name),
    }
    return mount, name, context


def _lease_actions(caps: Capabilities, mount: str, name: str) -> dict[str, bool]:
    prefix = f"{mount}creds/{name}"
    return {
        "can_renew": caps.can("sys/leases/renew", "update"),
        "can_revoke": caps.can("sys/leases/revoke", "update"),
        "can_revoke_all": caps.sudo(f"sys/leases/revoke-prefix/{prefix}", "update"),
        "can_force": caps.sudo(f"sys/leases/revoke-force/{prefix}", "update"),
    }


@signed_in
async def role_page(request: web.Request, session: Session, state: UiState) -> web.Response:
    _, _, context = await _role_context(request, session, state)
    return page(request, "role.html", session, context)


def _requested_ttl(form: dict[str, str], max_ttl: int | None) -> tuple[str, str]:
    """The TTL to ask for, as the API takes it, or a sentence saying why not."""
    choice = form.get("ttl", "").strip()
    if choice == "custom":
        choice = form.get("custom_ttl", "").strip()
        if not choice:
            return "", "Enter a custom TTL, such as 90m or 2h."
    if not choice:
        return "", ""
    try:
        seconds = int(parse_duration(choice).total_seconds())
    except DurationError as exc:
        return "", f"The TTL {choice!r} is not a duration ({exc}); use a value such as 90m."
    if seconds <= 0:
        return "", "The TTL must be more than 0 seconds."
    if max_ttl is not None and seconds > max_ttl:
        return "", (
            f"The TTL {choice} is above the role's max TTL of {format_duration(max_ttl)}; "
            "choose a shorter one."
        )
    return choice, ""


@signed_in
async def generate(request: web.Request, session: Session, state: UiState) -> web.Response:
    """Issue a credential and show it once: in this POST's answer, never stored, no-store."""
    form = await posted_form(request, session)
    mount, name, context = await _role_context(request, session, state)
    ttl, problem = _requested_ttl(form, context["max_ttl"])
    if not session.spend_once(form.get("once", "")):
        problem = (
            "This Generate form was sent already (a reload, or a second click), so no "
            "credential was issued this time; click Generate again for a new one."
        )
    if problem:
        context["generate_error"] = problem
        return page(request, "role.html", session, context, status=400)
    try:
        answer = await state.api.call(
            session.token,
            "GET",
            f"{mount}creds/{name}",
            {"ttl": ttl} if ttl else {},
            remote=request.remote or "",
        )
    except ApiFailure as exc:
        context["generate_error"] = f"No credential was issued: {exc.sentence}"
        return page(request, "role.html", session, context, status=exc.status)
    data = answer.data
    secrets = [(label, data[key]) for key, label in SECRET_FIELDS if data.get(key)]
    identity = [
        (label, data[key])
        for key, label in (
            ("user_principal_name", "User principal name"),
            ("client_id", "Client id"),
        )
        if data.get(key)
    ]
    session.remember_lease(answer.lease_id)
    # The table below the dialog shows the new lease too.
    if context["listable"]:
        context["leases"], context["lease_total"] = await leases_under(
            state.api, session, mount, name, request.remote or ""
        )
    else:
        mine = [i for i in session.issued if i.startswith(f"{mount}creds/{name}/")]
        context["leases"], context["lease_total"] = await lease_rows(
            state.api, session, mount, mine, request.remote or ""
        )
    context["credential"] = {
        "identity": identity,
        "secrets": secrets,
        "lease_id": answer.lease_id,
        "lease_duration": format_duration(answer.lease_duration),
        "warnings": answer.warnings,
    }
    return page(request, "role.html", session, context)


@signed_in
async def revoke_all_confirm(
    request: web.Request, session: Session, state: UiState
) -> web.Response:
    _, _, context = await _role_context(request, session, state)
    context["title"] = f"Revoke all leases of role {context['name']}"
    return page(request, "revoke_all.html", session, context)


@signed_in
async def revoke_all(request: web.Request, session: Session, state: UiState) -> web.Response:
    mount = await mount_of(request, session, state)
    name = request.match_info["role"]
    await posted_form(request, session)
    prefix = f"{mount}creds/{name}"
    try:
        await state.api.call(
            session.token, "PUT", f"sys/leases/revoke-prefix/{prefix}", remote=request.remote or ""
        )
    except ApiFailure as exc:
        session.notify("error", f"Not every lease of {name} was revoked: {exc.sentence}")
    else:
        session.notify("ok", f"Every lease of role {name} is revoked.")
    raise redirect(role_url(mount, name))


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/mounts/{mount}/roles/{role}", role_page),
        web.post("/ui/mounts/{mount}/roles/{role}/generate", generate),
        web.get("/ui/mounts/{mount}/roles/{role}/revoke-all", revoke_all_confirm),
        web.post("/ui/mounts/{mount}/roles/{role}/revoke-all", revoke_all),
    ]
