"""Test helpers for engines, auth methods and the host: one in-memory storage."""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from typing import Any

from mount.sdk.storage import BatchStorage, check_key, encode_batch, list_children

__all__ = ["MemoryStorage"]


class MemoryStorage:
    """A BatchStorage in a dict, keeping the contract a real store keeps.

    Values are held as their JSON text, so a put refuses what a store would refuse and
    every get returns a fresh copy; a batch is checked whole before any of it applies.
    """

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def keys(self) -> builtins.list[str]:
        """Every key held, sorted (for tests to look at what was written)."""
        return sorted(self._data)

    async def get(self, key: str) -> Any | None:
        check_key(key)
        text = self._data.get(key)
        return None if text is None else json.loads(text)

    async def put(self, key: str, value: Any) -> None:
        await self.put_many({key: value})

    async def delete(self, key: str) -> None:
        await self.put_many({key: None})

    async def list(self, prefix: str = "") -> builtins.list[str]:
        return list_children(self._data, prefix)

    async def put_many(self, items: Mapping[str, Any | None]) -> None:
        for key, text in encode_batch(items).items():
            if text is None:
                self._data.pop(key, None)
            else:
                self._data[key] = text


_conforms: BatchStorage = MemoryStorage()
