"""A dict-backed Storage (mount.sdk.Storage) for engine tests that need no mount."""

from __future__ import annotations

import copy
import json
from typing import Any

from mount.sdk import Storage


class MemoryStorage:
    """Values are JSON round-tripped on put, as a real store would, so tests see copies."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def get(self, key: str) -> Any | None:
        value = self.data.get(key)
        return copy.deepcopy(value)

    async def put(self, key: str, value: Any) -> None:
        self.data[key] = json.loads(json.dumps(value))

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def list(self, prefix: str = "") -> list[str]:
        children = set()
        for key in self.data:
            if key.startswith(prefix):
                head, sep, _ = key[len(prefix) :].partition("/")
                children.add(head + sep)
        return sorted(children)


_conforms: Storage = MemoryStorage()
