"""auth/token/: create, lookup, renew and revoke tokens, as the CLI and Vault Agent call them.

The handlers take the token store; creation's rules live in `mount.auth.token_create`.
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING

from mount.auth.token_create import create_paths, seconds_of
from mount.auth.token_roles import role_paths
from mount.caller import current_caller
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError, PermissionDeniedError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response
from mount.tokens.store import TokenEntry, TokenStore

if TYPE_CHECKING:
    from mount.core import Core

__all__ = ["paths"]

READ, UPDATE, LIST = Operation.READ, Operation.UPDATE, Operation.LIST

_TOKEN = {"token": Field(FieldType.STRING, "The token to act on.", sensitive=True)}
_INCREMENT = {
    "increment": Field(
        FieldType.DURATION, "The requested TTL in seconds from now; 0 keeps the token's TTL."
    )
}
_ACCESSOR = {"accessor": Field(FieldType.STRING, "The accessor of the token.", sensitive=True)}


def paths(core: Core) -> list[Path]:
    """The token method's paths, over the core's token store."""
    tokens = core.tokens
    return [
        Path(
            "lookup-self",
            {READ: lookup_self, UPDATE: lookup_self},
            help_synopsis="Look up the calling token's properties.",
        ),
        Path(
            "lookup",
            {UPDATE: partial(lookup, tokens), READ: partial(lookup, tokens)},
            _TOKEN,
            help_synopsis="Look up a token's properties.",
        ),
        Path(
            "lookup-accessor",
            {UPDATE: partial(lookup_accessor, tokens)},
            _ACCESSOR,
            help_synopsis="Look up a token by its accessor.",
        ),
        Path(
            "renew-self",
            {UPDATE: partial(renew_self, tokens)},
            _INCREMENT,
            help_synopsis="Renew the calling token.",
        ),
        Path(
            "renew",
            {UPDATE: partial(renew, tokens)},
            {**_TOKEN, **_INCREMENT},
            help_synopsis="Renew a token.",
        ),
        Path(
            "revoke-self",
            {UPDATE: partial(revoke_self, tokens)},
            help_synopsis="Revoke the calling token.",
        ),
        Path("revoke", {UPDATE: partial(revoke, tokens)}, _TOKEN, help_synopsis="Revoke a token."),
        Path(
            "revoke-accessor",
            {UPDATE: partial(revoke_accessor, tokens)},
            _ACCESSOR,
            help_synopsis="Revoke a token by its accessor.",
        ),
        Path(
            "revoke-orphan",
            {UPDATE: partial(revoke_orphan, tokens)},
            _TOKEN,
            help_synopsis="Revoke a token but not its children, which become orphans.",
        ),
        Path(
            "accessors/?",
            {LIST: partial(list_accessors, tokens)},
            help_synopsis="List the accessors of every token.",
        ),
        *create_paths(tokens),
        *role_paths(),
    ]


def _caller() -> tuple[TokenEntry, str]:
    caller = current_caller()
    return caller.require_token(), caller.token_id


async def lookup_self(req: Request, d: FieldData) -> Response:
    entry, token = _caller()
    return Reply(data=entry.lookup_data(token, time.time()))


async def lookup(tokens: TokenStore, req: Request, d: FieldData) -> Response:
    # Without a `token`, Vault's lookup looks up the caller.
    token = d.get("token") or _caller()[1]
    entry = await tokens.lookup(token)
    if entry is None:
        raise PermissionDeniedError("bad token")
    return Reply(data=entry.lookup_data(token, time.time()))


async def lookup_accessor(tokens: TokenStore, req: Request, d: FieldData) -> Response:
    entry = await tokens.by_accessor(d.get("accessor") or "")
    return Reply(data=entry.lookup_data("", time.time()))


async def _renewed(tokens: TokenStore, entry: TokenEntry, token: str, d: FieldData) -> Response:
    entry, warnings = await tokens.renew(entry, seconds_of(d, "increment"))
    return Reply(auth=entry.auth_block(token, time.time()), warnings=warnings)


async def renew_self(tokens: TokenStore, req: Request, d: FieldData) -> Response:
    return await _renewed(tokens, *_caller(), d)


async def renew(tokens: TokenStore, req: Request, d: FieldData) -> Response:
    token = d.get("token") or ""
    if not token:
        raise InvalidRequestError("missing token ID")
    entry = await tokens.lookup(token)
    if entry is None:
        raise InvalidRequestError("token not found")
    return await _renewed(tokens, entry, token, d)


async def revoke_self(tokens: TokenStore, req: Request, d: FieldData) -> None:
    entry, _ = _caller()
    await tokens.revoke_entry(entry)


async def revoke(tokens: TokenStore, req: Request, d: FieldData) -> None:
    entry = await tokens.lookup(d.get("token") or "")
    if entry is not None:
        await tokens.revoke_entry(entry)


async def revoke_accessor(tokens: TokenStore, req: Request, d: FieldData) -> None:
    entry = await tokens.by_accessor(d.get("accessor") or "")
    await tokens.revoke_entry(entry)


async def revoke_orphan(tokens: TokenStore, req: Request, d: FieldData) -> None:
    entry = await tokens.lookup(d.get("token") or "")
    if entry is not None:
        await tokens.revoke_orphan(entry)


async def list_accessors(tokens: TokenStore, req: Request, d: FieldData) -> Response:
    return Reply(data={"keys": await tokens.accessors()})
