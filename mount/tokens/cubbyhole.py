"""Cubbyholes: a private store per token, gone with the token (Vault's cubbyhole/).

Each token's entries live under `<accessor>/` in a storage view of their own; the
storage under it is the barrier's, so the values are encrypted at rest like every other
record. The token store's revoke hook (`drop`) deletes a token's entries with it.
"""

from __future__ import annotations

from typing import Any

from mount.sdk.logical import BatchStorage
from mount.tokens.store import TokenEntry

__all__ = ["Cubbyholes"]


class Cubbyholes:
    """Every token's cubbyhole, addressed by the token's record."""

    def __init__(self, storage: BatchStorage) -> None:
        self._storage = storage

    async def put(self, token: TokenEntry, values: dict[str, Any]) -> None:
        """Write some keys of a token's cubbyhole at once."""
        await self._storage.put_many({_key(token, k): v for k, v in values.items()})

    async def get(self, token: TokenEntry, key: str) -> Any:
        return await self._storage.get(_key(token, key))

    async def keys(self, token: TokenEntry) -> list[str]:
        return await self._storage.list(_key(token, ""))

    async def drop(self, token: TokenEntry) -> None:
        """Delete a token's whole cubbyhole (called as the token is revoked)."""
        keys = await self.keys(token)
        if keys:
            await self._storage.put_many({_key(token, k): None for k in keys})


def _key(token: TokenEntry, key: str) -> str:
    return f"{token.accessor}/{key}"
