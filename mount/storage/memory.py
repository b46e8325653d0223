"""MemoryStore: the host's store held in memory, for tests and in-memory dev mode."""

from __future__ import annotations

from mount.sdk.storage import BatchStorage
from mount.sdk.testing import MemoryStorage
from mount.storage.views import StorageView

__all__ = ["MemoryStore"]


class MemoryStore(MemoryStorage):
    """The SDK's MemoryStorage with the interface of the file stores: views and close."""

    def view(self, prefix: str) -> StorageView:
        return StorageView(self, prefix)

    async def close(self) -> None:
        return None


_conforms: BatchStorage = MemoryStore().view("")
