"""sys/wrapping/{wrap,unwrap,lookup,rewrap}: response wrapping's own endpoints (Vault's).

The core has checked the wrapping token before these run (mount/core.py, Vault's
validateWrappingToken), and spends the single use of a wrapping token sent as the
caller's token; a wrapping token named by `token` in the body is spent here.
"""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING

from mount.caller import current_caller
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response
from mount.tokens.store import TokenEntry
from mount.tokens.wrapping import REWRAP_PATH, Wrapping

if TYPE_CHECKING:
    from mount.core import Core

__all__ = ["UNAUTHENTICATED", "paths"]

READ, UPDATE = Operation.READ, Operation.UPDATE
# Reached without a token, as in Vault: the wrapping token itself is what is checked.
UNAUTHENTICATED = ("wrapping/lookup",)

_TOKEN = {
    "token": Field(
        FieldType.STRING,
        "The wrapping token; empty: the wrapping token sent as the client token (X-Vault-Token).",
        sensitive=True,
    )
}


def paths(core: Core) -> list[Path]:
    wrapping = core.wrapping
    return [
        Path(
            "wrapping/wrap",
            {UPDATE: wrap},
            help_synopsis="Wrap the request's data in a new wrapping token.",
            help_description=WRAP_HELP,
        ),
        Path(
            "wrapping/unwrap",
            {UPDATE: partial(unwrap, wrapping)},
            _TOKEN,
            help_synopsis="Unwrap a wrapped response: its single use.",
            help_description=UNWRAP_HELP,
            response_schema={"type": "object"},
        ),
        Path(
            "wrapping/lookup",
            {READ: partial(lookup, wrapping), UPDATE: partial(lookup, wrapping)},
            _TOKEN,
            help_synopsis="Look up a wrapping token's creation path, time and TTL.",
            help_description=LOOKUP_HELP,
        ),
        Path(
            "wrapping/rewrap",
            {UPDATE: partial(rewrap, wrapping)},
            _TOKEN,
            help_synopsis="Move a wrapped response to a new wrapping token.",
            help_description=REWRAP_HELP,
        ),
    ]


async def wrap(req: Request, d: FieldData) -> Response:
    if not current_caller().wrap_ttl:
        raise InvalidRequestError(
            "endpoint requires response wrapping to be used; send the X-Vault-Wrap-TTL "
            "header (the CLI's -wrap-ttl flag)"
        )
    d.unknown.clear()  # every parameter is the data to wrap, none is "unrecognized"
    return Reply(data=dict(req.data))


async def _wrapping_token(wrapping: Wrapping, d: FieldData) -> tuple[TokenEntry, bool]:
    """The wrapping token a request names, and whether it came in the body (a third
    party's, whose use is spent and which is revoked here)."""
    caller = current_caller()
    named = str(d.get("token") or "")
    if named and named != caller.token_id:
        entry = await wrapping.entry(named)
        await wrapping.claim(entry)
        return entry, True
    return await wrapping.entry(caller.token_id), False


async def unwrap(wrapping: Wrapping, req: Request, d: FieldData) -> Response:
    entry, third_party = await _wrapping_token(wrapping, d)
    try:
        stored = await wrapping.stored_response(entry)
    finally:
        if third_party:
            await wrapping.tokens.revoke_entry(entry)
    # The original answer, byte for byte as wrapped (its own request_id included).
    return Reply(raw=json.loads(stored))


async def lookup(wrapping: Wrapping, req: Request, d: FieldData) -> Response:
    token = str(d.get("token") or "") or current_caller().token_id
    if not token:
        raise InvalidRequestError('missing "token" value in input')
    info = await wrapping.info(await wrapping.entry(token))
    return Reply(
        data={
            "creation_path": info.get("creation_path"),
            "creation_time": info.get("creation_time"),
            "creation_ttl": info.get("creation_ttl"),
        }
    )


async def rewrap(wrapping: Wrapping, req: Request, d: FieldData) -> Response:
    entry, third_party = await _wrapping_token(wrapping, d)
    try:
        info = await wrapping.info(entry)
        stored = await wrapping.stored_response(entry)
        return await wrapping.wrap(
            Reply(),
            ttl=int(info["creation_ttl"]),
            path=REWRAP_PATH,
            request_id="",
            stored=stored,
            creation_path=str(info["creation_path"]),
        )
    finally:
        if third_party:
            await wrapping.tokens.revoke_entry(entry)


WRAP_HELP = """\
Wraps the parameters of the request (any JSON object) in the cubbyhole of a new
single-use wrapping token. Requires the X-Vault-Wrap-TTL header; the answer holds only
wrap_info, and sys/wrapping/unwrap gives the data back once."""

UNWRAP_HELP = """\
Answers the response a wrapping token holds, exactly as it was wrapped, and revokes the
wrapping token: a second unwrap fails. Send the wrapping token as the client token, or
as `token` in the body with any token allowed to update sys/wrapping/unwrap."""

LOOKUP_HELP = """\
The creation path, creation time and TTL of a wrapping token, without using it. Served
without authentication, as in Vault; the token is the body's `token` or the client
token."""

REWRAP_HELP = """\
Moves the response a wrapping token holds to a new wrapping token with the same TTL and
creation path, and revokes the old one."""
