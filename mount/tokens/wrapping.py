"""Response wrapping: an answer kept in the cubbyhole of a single-use token (Vault's).

`wrap` mints the wrapping token (policy `response-wrapping`, the wrap TTL, one use, no
parent), stores the answer's JSON envelope under the cubbyhole key `response` and the
wrapping's own facts under `wrapinfo`, and returns the `wrap_info` answer in its place.
sys/wrapping/{unwrap,lookup,rewrap} (mount/sys/wrapping.py) read them back; revoking the
token (its single use, its expiry) drops its cubbyhole with it.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mount.ids import rfc3339
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError, PermissionDeniedError, VaultError
from mount.tokens.cubbyhole import Cubbyholes
from mount.tokens.store import TokenEntry, TokenStore

__all__ = [
    "INVALID_WRAPPING_TOKEN",
    "TOKEN_PATHS",
    "WRAPPING_POLICY",
    "Wrapping",
    "wrappable",
]

logger = logging.getLogger(__name__)

WRAPPING_POLICY = "response-wrapping"
INVALID_WRAPPING_TOKEN = "wrapping token is not valid or does not exist"
# The paths that take a wrapping token (as X-Vault-Token, or `token` in the body).
TOKEN_PATHS = frozenset({"sys/wrapping/unwrap", "sys/wrapping/lookup", "sys/wrapping/rewrap"})
REWRAP_PATH = "sys/wrapping/rewrap"


def wrappable(reply: Reply | None) -> bool:
    """Whether an answer can be wrapped: an envelope (or a raw JSON body), not wrapped yet.

    Vault wraps nothing for an empty answer (204), and help is not an API answer.
    """
    return (
        reply is not None and reply.wrap_info is None and not reply.empty and reply.raw_body is None
    )


class Wrapping:
    """Wraps answers and finds them again, over the token store and the cubbyholes."""

    def __init__(self, tokens: TokenStore, cubbyholes: Cubbyholes) -> None:
        self.tokens = tokens
        self.cubbyholes = cubbyholes

    async def wrap(
        self,
        reply: Reply,
        *,
        ttl: int,
        path: str,
        request_id: str,
        mount_type: str = "",
        display_name: str = "",
        stored: str | None = None,
        creation_path: str | None = None,
    ) -> Reply:
        """The `wrap_info` answer for `reply`, now in a new wrapping token's cubbyhole.

        A rewrap passes the `stored` text and `creation_path` of the token it replaces.
        """
        if stored is None:
            body = reply.raw if reply.raw is not None else reply.envelope(request_id)
            stored = json.dumps(body, separators=(",", ":"))
        token, entry = await self.tokens.create(
            policies=[WRAPPING_POLICY],
            ttl=ttl,
            explicit_max_ttl=ttl,
            renewable=False,
            orphan=True,
            num_uses=1,
            path=path,
            display_name=display_name or "token",
        )
        creation_path = path if creation_path is None else creation_path
        created = rfc3339(entry.creation_time)
        try:
            await self.cubbyholes.put(
                entry,
                {
                    "response": stored,
                    "wrapinfo": {
                        "creation_ttl": ttl,
                        "creation_time": created,
                        "creation_path": creation_path,
                    },
                },
            )
        except Exception:
            await self.tokens.revoke_entry(entry)
            raise
        info: dict[str, Any] = {
            "token": token,
            "accessor": entry.accessor,
            "ttl": ttl,
            "creation_time": created,
            "creation_path": creation_path,
        }
        wrapped = _wrapped_accessor(reply, mount_type)
        if wrapped:
            info["wrapped_accessor"] = wrapped
        logger.info("response wrapped accessor=%s path=%s ttl=%d", entry.accessor, path, ttl)
        return Reply(wrap_info=info, warnings=reply.warnings)

    async def check(self, body_token: Any, header_token: str) -> None:
        """Vault's check before sys/wrapping/{unwrap,lookup,rewrap} run: the token in the
        body, or else the caller's, must be a live wrapping token."""
        if body_token is not None:
            if not isinstance(body_token, str):
                raise _not_validated("could not decode token in request body")
            if not body_token:
                raise _not_validated("empty token in request body")
            token = body_token
        else:
            token = header_token
        if not token:
            raise _not_validated("token is empty")
        await self.entry(token)

    async def entry(self, token: str) -> TokenEntry:
        """The record of a live wrapping token; Vault's 400 otherwise."""
        entry = await self.tokens.lookup(token)
        if entry is None or entry.policies != (WRAPPING_POLICY,):
            raise InvalidRequestError(INVALID_WRAPPING_TOKEN)
        return entry

    async def claim(self, entry: TokenEntry) -> None:
        """Spend the single use of a wrapping token named in the body (a third party's
        unwrap or rewrap); a second claim, even a concurrent one, fails."""
        try:
            await self.tokens.use(entry)
        except PermissionDeniedError:
            raise InvalidRequestError(INVALID_WRAPPING_TOKEN) from None

    async def stored_response(self, entry: TokenEntry) -> str:
        found = await self.cubbyholes.get(entry, "response")
        if not isinstance(found, str):
            raise VaultError("no response found inside the cubbyhole")
        return found

    async def info(self, entry: TokenEntry) -> dict[str, Any]:
        """creation_ttl, creation_time and creation_path of the wrapping."""
        found = await self.cubbyholes.get(entry, "wrapinfo")
        if not isinstance(found, dict):
            raise InvalidRequestError("no information found; the wrapping token has no cubbyhole")
        return found


def _not_validated(reason: str) -> PermissionDeniedError:
    return PermissionDeniedError(f"error validating wrapping token: {reason}")


def _wrapped_accessor(reply: Reply, mount_type: str) -> str:
    """A wrapped token's accessor, or an AppRole secret id's (Vault's wrapped_accessor)."""
    if reply.auth:
        return str(reply.auth.get("accessor") or "")
    if mount_type == "approle" and reply.data:
        return str(reply.data.get("secret_id_accessor") or "")
    return ""
