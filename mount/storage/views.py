"""StorageView: the Storage protocol under a key prefix (Vault's logical.StorageView)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mount.sdk.errors import InvalidRequestError
from mount.sdk.storage import BatchStorage, StorageError

__all__ = ["ParentReferenceError", "StorageView"]


class ParentReferenceError(InvalidRequestError):
    """A name or id from a request would climb out of its storage prefix: the caller's fault."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"path cannot contain parent references: {key!r} contains '..'; "
            "names and ids must not contain two dots in a row"
        )


class StorageView:
    """A store's keys under one prefix, as a BatchStorage; views nest."""

    __slots__ = ("_prefix", "_store")

    def __init__(self, store: BatchStorage, prefix: str) -> None:
        self._store = store
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"StorageView(prefix={self._prefix!r})"

    @property
    def prefix(self) -> str:
        return self._prefix

    def view(self, prefix: str) -> StorageView:
        return StorageView(self._store, self._prefix + prefix)

    def _key(self, key: str) -> str:
        # As Vault's view does: a relative key must not climb out of the prefix.
        if not isinstance(key, str):
            raise StorageError(f"storage key must be a string, not {key!r}")
        if ".." in key:
            raise ParentReferenceError(key)
        return self._prefix + key

    async def get(self, key: str) -> Any | None:
        return await self._store.get(self._key(key))

    async def put(self, key: str, value: Any) -> None:
        await self._store.put(self._key(key), value)

    async def delete(self, key: str) -> None:
        await self._store.delete(self._key(key))

    async def list(self, prefix: str = "") -> list[str]:
        return await self._store.list(self._key(prefix))

    async def put_many(self, items: Mapping[str, Any | None]) -> None:
        await self._store.put_many({self._key(k): v for k, v in items.items()})
