"""Opening the physical store a config names: `storage "tinydb"` or `storage "log"`."""

from __future__ import annotations

from pathlib import Path

from mount.barrier import Barrier
from mount.logstore import LogStore
from mount.split_store import SplitStore
from mount.storage import StorageError

__all__ = ["STORE_KINDS", "open_store"]

STORE_KINDS = ("tinydb", "log")


def open_store(kind: str, path: Path, barrier: Barrier | None) -> SplitStore | LogStore:
    """The store of that kind on `path`; raises StorageError for an unknown kind.

    `tinydb` is TinyDB for configuration with leases and tokens in a log beside it
    (see mount/split_store.py); `log` is everything in one log.
    """
    if kind == "tinydb":
        return SplitStore(path, barrier)
    if kind == "log":
        return LogStore(path, barrier)
    raise StorageError(f"unknown storage type {kind!r}; use one of {', '.join(STORE_KINDS)}")
