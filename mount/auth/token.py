"""auth/token/: create, lookup, renew and revoke tokens, as the CLI and Vault Agent call them."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from mount.caller import current_caller
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError, PermissionDeniedError
from mount.sdk.framework import Field, FieldData, FieldType, Path
from mount.sdk.logical import Operation, Request, Response
from mount.tokens.store import TokenEntry, TokenStore
from mount.tokens.ttl import calculate_ttl

if TYPE_CHECKING:
    from mount.core import Core

__all__ = ["paths"]

READ, UPDATE, LIST = Operation.READ, Operation.UPDATE, Operation.LIST


def _caller(req: Request) -> tuple[TokenEntry, str]:
    caller = current_caller()
    return caller.require_token(), caller.token_id


def _seconds(d: FieldData, name: str) -> int:
    value = d.get(name)
    return int(value.total_seconds()) if value is not None else 0


def _policies(d: FieldData, parent: TokenEntry, sudo: bool) -> list[str]:
    """The new token's policies: those asked (else the parent's), with `default`."""
    policies: list[str] = sorted({p.strip().lower() for p in d.get("policies") or []} - {""})
    if not policies:
        policies = [p for p in parent.policies if p != "default"]
    if not d.get("no_default_policy") and "root" not in policies:
        policies = sorted({*policies, "default"})
    if not sudo and not set(policies) <= {*parent.policies, "default"}:
        raise InvalidRequestError("child policies must be subset of parent")
    return policies


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else "not a string"


def _meta(d: FieldData) -> dict[str, str] | None:
    """Token metadata: Vault's map[string]string; anything else is refused, not stored."""
    meta = d.get("meta")
    if not meta:
        return None
    for key, value in meta.items():
        if not isinstance(value, str):
            name = json.dumps(key)
            name = name if len(name) <= 66 else name[:62] + '..."'
            raise InvalidRequestError(
                f'"meta" must be a map of strings to strings: the value of {name} is '
                f"{_describe(value)}"
            )
    return dict(meta)


def _creation_ttl(
    tokens: TokenStore, d: FieldData, policies: list[str], period: int
) -> tuple[int, list[str]]:
    """The new token's TTL within the system max, with Vault's warnings (0: never expires)."""
    ttl, explicit = _seconds(d, "ttl"), _seconds(d, "explicit_max_ttl")
    if ttl == 0 and period == 0 and "root" in policies:
        if explicit == 0:
            return 0, []  # a root token without a TTL never expires, as in Vault
        ttl = explicit  # root tokens are still bound by their explicit max
    limits = replace(tokens.limits, ttl=ttl, period=period, explicit_max_ttl=explicit)
    now = time.time()
    return calculate_ttl(limits, start=now, now=now)


def paths(core: Core) -> list[Path]:
    tokens = core.tokens

    async def lookup_self(req: Request, d: FieldData) -> Response:
        entry, token = _caller(req)
        return Reply(data=entry.lookup_data(token, time.time()))

    async def lookup(req: Request, d: FieldData) -> Response:
        # Without a `token`, Vault's lookup looks up the caller.
        token = d.get("token") or _caller(req)[1]
        entry = await tokens.lookup(token)
        if entry is None:
            raise PermissionDeniedError("bad token")
        return Reply(data=entry.lookup_data(token, time.time()))

    async def lookup_accessor(req: Request, d: FieldData) -> Response:
        entry = await tokens.by_accessor(d.get("accessor") or "")
        data = entry.lookup_data("", time.time())
        return Reply(data=data)

    async def renewed(entry: TokenEntry, token: str, d: FieldData) -> Response:
        entry, warnings = await tokens.renew(entry, _seconds(d, "increment"))
        return Reply(auth=entry.auth_block(token, time.time()), warnings=warnings)

    async def renew_self(req: Request, d: FieldData) -> Response:
        return await renewed(*_caller(req), d)

    async def renew(req: Request, d: FieldData) -> Response:
        token = d.get("token") or ""
        if not token:
            raise InvalidRequestError("missing token ID")
        entry = await tokens.lookup(token)
        if entry is None:
            raise InvalidRequestError("token not found")
        return await renewed(entry, token, d)

    async def revoke_self(req: Request, d: FieldData) -> None:
        entry, _ = _caller(req)
        await tokens.revoke_entry(entry)

    async def revoke(req: Request, d: FieldData) -> None:
        entry = await tokens.lookup(d.get("token") or "")
        if entry is not None:
            await tokens.revoke_entry(entry)

    async def revoke_accessor(req: Request, d: FieldData) -> None:
        entry = await tokens.by_accessor(d.get("accessor") or "")
        await tokens.revoke_entry(entry)

    async def revoke_orphan(req: Request, d: FieldData) -> None:
        entry = await tokens.lookup(d.get("token") or "")
        if entry is not None:
            await tokens.revoke_orphan(entry)

    async def list_accessors(req: Request, d: FieldData) -> Response:
        return Reply(data={"keys": await tokens.accessors()})

    async def create(req: Request, d: FieldData, *, orphan: bool = False) -> Response:
        """Vault's handleCreateCommon without token roles, its checks in its order."""
        parent, _ = _caller(req)
        # A use-limited token could escape its count through children.
        if tokens.limited_use(parent):
            raise InvalidRequestError("restricted use token cannot generate child tokens")
        sudo = parent.is_root or current_caller().acl.allows(f"auth/token/{req.path}", "sudo")
        num_uses = d.get("num_uses") or 0
        if num_uses < 0:
            raise InvalidRequestError("number of uses cannot be negative")
        meta = _meta(d)
        if d.provided("id") and not sudo:
            raise InvalidRequestError("root or sudo privileges required to specify token id")
        policies = _policies(d, parent, sudo)
        if "root" in policies and not parent.is_root:
            # Sudo on this path must not be a way to root.
            raise InvalidRequestError(
                "root tokens may not be created without parent token being root"
            )
        if d.get("no_parent"):
            if not sudo:
                raise InvalidRequestError("root or sudo privileges required to create orphan token")
            orphan = True
        # A child is bound to its parent's CIDRs; an orphan starts afresh, as in Vault.
        bound_cidrs = () if orphan else parent.bound_cidrs
        period = _seconds(d, "period")
        if period > 0 and not sudo:
            raise InvalidRequestError("root or sudo privileges required to create periodic token")
        ttl, warnings = _creation_ttl(tokens, d, policies, period)
        if ttl == 0 and parent.expire_time is not None:
            raise InvalidRequestError("expiring root tokens cannot create non-expiring root tokens")
        token, entry = await tokens.create(
            policies=policies,
            ttl=ttl,
            explicit_max_ttl=_seconds(d, "explicit_max_ttl"),
            period=period,
            renewable=bool(d.get("renewable")),
            display_name=f"token-{d.get('display_name')}" if d.get("display_name") else "token",
            token_id=d.get("id") or None,
            parent=parent,
            orphan=orphan,
            num_uses=num_uses,
            meta=meta,
            # A token that never expires is not bound to addresses either (Vault).
            bound_cidrs=bound_cidrs if ttl else (),
        )
        return Reply(auth=entry.auth_block(token, time.time()), warnings=warnings)

    async def create_orphan(req: Request, d: FieldData) -> Response:
        return await create(req, d, orphan=True)

    token_field = {"token": Field(FieldType.STRING, "The token to act on.", sensitive=True)}
    increment = {
        "increment": Field(
            FieldType.DURATION, "The requested TTL in seconds from now; 0 keeps the token's TTL."
        )
    }
    accessor = {"accessor": Field(FieldType.STRING, "The accessor of the token.", sensitive=True)}
    create_fields: dict[str, Field] = {
        "id": Field(
            FieldType.STRING, "The token value; root tokens only. Empty: random.", sensitive=True
        ),
        "policies": Field(FieldType.STRING_LIST, "Policies of the token; empty: the caller's."),
        "no_default_policy": Field(FieldType.BOOL, "Leave the default policy out.", False),
        "ttl": Field(FieldType.DURATION, "Initial TTL in seconds; 0 uses the system default."),
        "explicit_max_ttl": Field(FieldType.DURATION, "Hard cap on the TTL; 0 means none."),
        "period": Field(FieldType.DURATION, "Periodic token renewal period; 0 means none."),
        "renewable": Field(FieldType.BOOL, "Whether the token may be renewed.", True),
        "display_name": Field(FieldType.STRING, "Name shown in lookups and logs."),
        "num_uses": Field(FieldType.INT, "Uses before the token ends; 0 means unlimited.", 0),
        "no_parent": Field(FieldType.BOOL, "Create an orphan token.", False),
        "meta": Field(FieldType.MAP, "Metadata for the token, string keys and values."),
        "type": Field(FieldType.STRING, "Token type; only `service` is supported."),
        "entity_alias": Field(FieldType.STRING, "Ignored: no identity store."),
        "renew_period": Field(FieldType.DURATION, "Ignored alias of period."),
        "lease": Field(FieldType.DURATION, "Deprecated alias of ttl; ignored."),
    }
    return [
        Path(
            "lookup-self",
            {READ: lookup_self, UPDATE: lookup_self},
            help_synopsis="Look up the calling token's properties.",
        ),
        Path(
            "lookup",
            {UPDATE: lookup, READ: lookup},
            token_field,
            help_synopsis="Look up a token's properties.",
        ),
        Path(
            "lookup-accessor",
            {UPDATE: lookup_accessor},
            accessor,
            help_synopsis="Look up a token by its accessor.",
        ),
        Path(
            "renew-self", {UPDATE: renew_self}, increment, help_synopsis="Renew the calling token."
        ),
        Path(
            "renew", {UPDATE: renew}, {**token_field, **increment}, help_synopsis="Renew a token."
        ),
        Path("revoke-self", {UPDATE: revoke_self}, help_synopsis="Revoke the calling token."),
        Path("revoke", {UPDATE: revoke}, token_field, help_synopsis="Revoke a token."),
        Path(
            "revoke-accessor",
            {UPDATE: revoke_accessor},
            accessor,
            help_synopsis="Revoke a token by its accessor.",
        ),
        Path(
            "revoke-orphan",
            {UPDATE: revoke_orphan},
            token_field,
            help_synopsis="Revoke a token but not its children, which become orphans.",
        ),
        Path(
            "accessors/?",
            {LIST: list_accessors},
            help_synopsis="List the accessors of every token.",
        ),
        Path("create", {UPDATE: create}, create_fields, help_synopsis="Create a token."),
        Path(
            "create-orphan",
            {UPDATE: create_orphan},
            create_fields,
            help_synopsis="Create a token with no parent.",
        ),
    ]
