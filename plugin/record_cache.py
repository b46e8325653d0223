"""The engine's parsed config and roles, kept between requests and dropped at each write.

Reading them from storage costs a decryption and executor hops on every creds read and
every revocation; they change only through this engine's own writes (one mount, one
backend), which go through `RecordCache.put`/`delete` and drop what was cached.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from mount.sdk import Storage

__all__ = ["RecordCache"]

Record = TypeVar("Record")


class RecordCache:
    """Parsed records by storage key, for one storage view (another view starts afresh).

    A read that began before a write never stores what it read: every write bumps the
    generation, and a value is kept only if the generation did not move while it was read.
    Absent records are cached too (None); a damaged one raises and is not kept.
    """

    def __init__(self) -> None:
        self._storage: Storage | None = None
        self._records: dict[str, Any] = {}
        self._generation = 0

    async def get(
        self, storage: Storage, key: str, read: Callable[[], Awaitable[Record | None]]
    ) -> Record | None:
        if storage is not self._storage:
            self._drop()
            self._storage = storage
        if key in self._records:
            found: Record | None = self._records[key]
            return found
        generation = self._generation
        value = await read()
        if generation == self._generation:
            self._records[key] = value
        return value

    async def put(self, storage: Storage, key: str, value: Any) -> None:
        """Write through to storage; the record is read afresh next time."""
        try:
            await storage.put(key, value)
        finally:
            self._forget(storage, key)

    async def delete(self, storage: Storage, key: str) -> None:
        try:
            await storage.delete(key)
        finally:
            self._forget(storage, key)

    def _forget(self, storage: Storage, key: str) -> None:
        self._generation += 1
        if storage is self._storage:
            self._records.pop(key, None)
        else:
            self._drop()

    def _drop(self) -> None:
        self._generation += 1
        self._records.clear()
        self._storage = None
