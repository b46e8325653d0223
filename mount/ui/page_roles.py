"""A mount's roles (user, credential type, TTL / max TTL, mode, live leases), and the
form that creates roles for several users at once, picked from `LIST <mount>users`."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from mount.ui.api import ApiFailure
from mount.ui.capabilities import capabilities_of
from mount.ui.data import engine_mounts, leases_under, role_names
from mount.ui.sessions import Session
from mount.ui.views import UiState, mount_url, page, posted_form, redirect, signed_in

__all__ = ["mount_of", "routes"]

USERS_PER_PAGE = 25
ROLE_FIELDS = ("ttl", "max_ttl", "password_length", "mode", "credential_type")
_NAME_CHARS = re.compile(r"[^a-z0-9_.-]+")


async def mount_of(request: web.Request, session: Session, state: UiState) -> str:
    """The mount the URL names (`entra` -> `entra/`), if it is an engine mount the token
    reaches; 404 otherwise."""
    mount = request.match_info["mount"].strip("/") + "/"
    try:
        mounts = await engine_mounts(state.api, session, state.engine_types, request.remote or "")
    except ApiFailure:
        mounts = {}
    if mount not in mounts:
        raise web.HTTPNotFound(
            text=f"no Entra engine mount {mount} that this token can reach",
            content_type="text/plain",
        )
    return mount


@signed_in
async def roles_page(request: web.Request, session: Session, state: UiState) -> web.Response:
    mount = await mount_of(request, session, state)
    remote = request.remote or ""
    caps = await capabilities_of(
        state.api,
        session.token,
        [
            f"{mount}roles/",
            f"{mount}roles/*",
            f"{mount}config",
            f"{mount}users/",
            f"sys/leases/lookup/{mount}creds/",
            "sys/leases",
        ],
    )
    error = ""
    roles: list[dict[str, Any]] = []
    listed = caps.can(f"{mount}roles/", "list")
    if listed:
        try:
            names = await role_names(state.api, session, mount, remote)
        except ApiFailure as exc:
            names, error = [], exc.sentence
        counts: dict[str, int] = {}
        if caps.sudo(f"sys/leases/lookup/{mount}creds/", "list"):
            rows, _ = await leases_under(state.api, session, mount, None, remote)
            for row in rows:
                counts[row.role] = counts.get(row.role, 0) + 1

        async def read(name: str) -> dict[str, Any]:
            try:
                answer = await state.api.call(
                    session.token, "GET", f"{mount}roles/{name}", remote=remote
                )
            except ApiFailure as exc:
                return {"name": name, "error": exc.sentence}
            return {"name": name, **answer.data, "leases": counts.get(name)}

        roles = list(await asyncio.gather(*map(read, names)))
    return page(
        request,
        "roles.html",
        session,
        {
            "title": f"Roles of {mount}",
            "mount": mount,
            "roles": roles,
            "listed": listed,
            "error": error,
            "can_config": caps.can(f"{mount}config", "read", "update", "create"),
            "can_create": caps.can(f"{mount}roles/*", "create", "update")
            and caps.can(f"{mount}users/", "list"),
            "can_irrevocable": caps.sudo("sys/leases", "read"),
            "can_mount_leases": caps.sudo(f"sys/leases/lookup/{mount}creds/", "list"),
        },
    )


@signed_in
async def open_role(request: web.Request, session: Session, state: UiState) -> web.Response:
    """The "open a role by name" form, for tokens that may not list the roles."""
    mount = await mount_of(request, session, state)
    name = request.query.get("name", "").strip().strip("/")
    if not name or "/" in name:
        session.notify("error", "Enter the name of a role, such as alice.")
        raise redirect(mount_url(mount))
    raise redirect(f"{mount_url(mount)}roles/{name}")


def role_name_for(upn: str, prefix: str) -> str:
    """A role name from a user principal name: its part before the @, lowercased."""
    local = upn.split("@", 1)[0].lower()
    return prefix + (_NAME_CHARS.sub("-", local).strip("-") or "user")


@signed_in
async def new_roles_page(request: web.Request, session: Session, state: UiState) -> web.Response:
    mount = await mount_of(request, session, state)
    query = request.query.get("q", "").strip()
    try:
        number = max(1, int(request.query.get("page", "1")))
    except ValueError:
        number = 1
    error = ""
    users: list[dict[str, Any]] = []
    try:
        answer = await state.api.call(
            session.token, "LIST", f"{mount}users", remote=request.remote or ""
        )
        info = answer.data.get("key_info") or {}
        for upn in answer.data.get("keys") or []:
            details = info.get(upn) or {}
            users.append({"upn": upn, **details})
    except ApiFailure as exc:
        if exc.status != 404:
            error = exc.sentence
    if query:
        lowered = query.lower()
        users = [
            u
            for u in users
            if lowered in u["upn"].lower() or lowered in str(u.get("display_name") or "").lower()
        ]
    pages = max(1, -(-len(users) // USERS_PER_PAGE))
    number = min(number, pages)
    shown = users[(number - 1) * USERS_PER_PAGE : number * USERS_PER_PAGE]
    return page(
        request,
        "new_roles.html",
        session,
        {
            "title": f"Create roles in {mount}",
            "mount": mount,
            "users": shown,
            "total": len(users),
            "query": query,
            "page_number": number,
            "pages": pages,
            "error": error,
        },
    )


@signed_in
async def create_roles(request: web.Request, session: Session, state: UiState) -> web.Response:
    mount = await mount_of(request, session, state)
    raw = await request.post()
    form = await posted_form(request, session)
    picked = [str(v) for v in raw.getall("user", []) if isinstance(v, str) and v]
    if not picked:
        session.notify("error", "Pick at least one user to create roles for.")
        raise redirect(f"{mount_url(mount)}new-roles")
    fields: dict[str, Any] = {
        name: form[name] for name in ROLE_FIELDS if form.get(name, "").strip()
    }
    if form.get("allow_privileged_user") == "true":
        fields["allow_privileged_user"] = True
    prefix = form.get("prefix", "").strip().lower()
    for upn in picked:
        name = role_name_for(upn, prefix)
        try:
            answer = await state.api.call(
                session.token,
                "PUT",
                f"{mount}roles/{name}",
                {**fields, "user_principal_name": upn},
                remote=request.remote or "",
            )
        except ApiFailure as exc:
            session.notify("error", f"Role {name} for {upn} was not created: {exc.sentence}")
            continue
        session.notify("ok", f"Role {name} created for {upn}.")
        for warning in answer.warnings:
            session.notify("warning", f"Role {name}: {warning}")
    raise redirect(mount_url(mount))


async def with_slash(request: web.Request) -> web.StreamResponse:
    raise redirect(request.path + "/")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/ui/mounts/{mount}", with_slash),
        web.get("/ui/mounts/{mount}/", roles_page),
        web.get("/ui/mounts/{mount}/open", open_role),
        web.get("/ui/mounts/{mount}/new-roles", new_roles_page),
        web.post("/ui/mounts/{mount}/roles", create_roles),
    ]
