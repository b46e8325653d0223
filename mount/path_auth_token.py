"""auth/token/: create, lookup, renew and revoke tokens, as the CLI and Vault Agent call them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mount.acl import ACL
from mount.sdk.errors import InvalidRequestError, PermissionDeniedError
from mount.sdk.framework import Field, FieldData, FieldType, Path
from mount.sdk.logical import Operation, Request, Response
from mount.tokens import TokenEntry

if TYPE_CHECKING:
    from mount.core import Core

__all__ = ["paths"]

READ, UPDATE, LIST = Operation.READ, Operation.UPDATE, Operation.LIST


def _caller(req: Request) -> tuple[TokenEntry, str]:
    token = req.context.get("token")
    if not isinstance(token, TokenEntry):
        raise PermissionDeniedError()
    return token, str(req.context.get("token_id", ""))


def _seconds(d: FieldData, name: str) -> int:
    value = d.get(name)
    return int(value.total_seconds()) if value is not None else 0


def paths(core: Core) -> list[Path]:
    tokens = core.tokens

    async def lookup_self(req: Request, d: FieldData) -> Response:
        entry, token = _caller(req)
        return Response(data=entry.lookup_data(token, time.time()))

    async def named(d: FieldData) -> tuple[TokenEntry, str]:
        """The token given in the `token` field, which must be live."""
        token = d.get("token") or ""
        entry = await tokens.lookup(token)
        if entry is None:
            raise InvalidRequestError("bad token")
        return entry, token

    async def lookup(req: Request, d: FieldData) -> Response:
        entry, token = await named(d)
        return Response(data=entry.lookup_data(token, time.time()))

    async def lookup_accessor(req: Request, d: FieldData) -> Response:
        entry = await tokens.by_accessor(d.get("accessor") or "")
        data = entry.lookup_data("", time.time())
        return Response(data=data)

    async def renewed(entry: TokenEntry, token: str, d: FieldData) -> Response:
        entry = await tokens.renew(entry, _seconds(d, "increment"))
        return Response(auth=entry.auth_block(token, time.time()))

    async def renew_self(req: Request, d: FieldData) -> Response:
        return await renewed(*_caller(req), d)

    async def renew(req: Request, d: FieldData) -> Response:
        return await renewed(*await named(d), d)

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
        return Response(data={"keys": await tokens.accessors()})

    async def create(req: Request, d: FieldData, *, orphan: bool = False) -> Response:
        parent, _ = _caller(req)
        acl = req.context.get("acl")
        sudo = parent.is_root or (
            isinstance(acl, ACL) and acl.allows(f"auth/token/{req.path}", "sudo")
        )
        policies: list[str] = sorted({p.strip().lower() for p in d.get("policies") or []} - {""})
        if not policies:
            policies = [p for p in parent.policies if p != "default"]
        if not d.get("no_default_policy") and "root" not in policies:
            policies = sorted({*policies, "default"})
        if not sudo and not set(policies) <= {*parent.policies, "default"}:
            raise InvalidRequestError("child policies must be subset of parent")
        if d.provided("id") and not sudo:
            raise PermissionDeniedError("root or sudo privileges required to specify token id")
        if d.get("no_parent") and not orphan and not sudo:
            raise PermissionDeniedError("root or sudo privileges required to create orphan token")
        token, entry = await tokens.create(
            policies=policies,
            ttl=_seconds(d, "ttl"),
            explicit_max_ttl=_seconds(d, "explicit_max_ttl"),
            period=_seconds(d, "period"),
            renewable=bool(d.get("renewable")),
            display_name=f"token-{d.get('display_name')}" if d.get("display_name") else "token",
            token_id=d.get("id") or None,
            parent=parent,
            orphan=orphan or bool(d.get("no_parent")),
            num_uses=d.get("num_uses") or 0,
            meta=d.get("meta") or None,
        )
        return Response(auth=entry.auth_block(token, time.time()))

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
        "ttl": Field(FieldType.DURATION, "Initial TTL in seconds; 0 uses the system maximum."),
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
