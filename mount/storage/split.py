"""The default store: configuration in TinyDB, leases and tokens in an append-only log.

TinyDB rewrites its whole file on every durable write, which is fine for configuration
and roles (few, rarely written) and ruinous for leases and tokens (many, written all
day: a renew costs 1 ms at 100 leases and 1.3 s at 100,000). So `storage "tinydb"`
keeps TinyDB's one readable JSON document for everything else and puts the keys under
`LOG_PREFIXES` in a log store beside it (`<path>.leases`), whose writes cost the same
at any size. docs/performance.md ("Which store") has the figures behind the split.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mount.storage.barrier import Barrier
from mount.storage.log import LogStore
from mount.storage.store import StorageError, StorageView, TinyDBStore

__all__ = ["LOG_PREFIXES", "SplitStore", "leases_path"]

logger = logging.getLogger(__name__)

# Leases (the lease manager's sys/expire/) and tokens (the token store's sys/token/).
LOG_PREFIXES = ("sys/expire/", "sys/token/")


def leases_path(path: Path) -> Path:
    """Where the log beside a TinyDB file lives."""
    return path.with_name(path.name + ".leases")


def _in_log(key: str) -> bool:
    return key.startswith(LOG_PREFIXES)


class SplitStore:
    """One Storage over a TinyDB file and a log store, routing each key by its prefix.

    Both files are sealed by the same barrier and locked while open. A batch is all or
    nothing only within one file, so a batch mixing the two is refused: no caller writes
    one (leases and tokens each batch under their own prefix).
    """

    def __init__(self, path: Path, barrier: Barrier | None = None) -> None:
        path = Path(path)
        if not path.exists() and leases_path(path).exists():
            raise StorageError(
                f"the storage {path} is missing but its lease log {leases_path(path)} exists; "
                f"restore {path.name} from your backup, or move {leases_path(path).name} away "
                "to start with empty storage"
            )
        self._config = TinyDBStore(path, barrier)
        try:
            self._check_log_is_there()
            self._log = LogStore(leases_path(path), barrier)
        except BaseException:
            self._config.close_now()
            raise
        try:
            self._move_to_log()
        except BaseException:
            self._log.close_now()
            self._config.close_now()
            raise

    def __repr__(self) -> str:
        return f"SplitStore(config={self._config!r}, log={self._log!r})"

    def _check_log_is_there(self) -> None:
        """Refuse a used TinyDB file whose lease log is gone, rather than start afresh.

        A fresh log would mean no leases to revoke and no root token, so a new one
        printed: a silent reset. A used file is one holding any entry (the first start
        writes the cluster id). One written before the split holds its leases and tokens
        itself (the root token's marker at least), and gets its log by the move below.
        """
        log = leases_path(self._config.path)
        if log.exists():
            return
        keys = self._config.keys_now()
        if keys and not any(_in_log(key) for key in keys):
            path = self._config.path
            raise StorageError(
                f"the lease log {log} of the storage {path} is missing: it holds the leases "
                "and the tokens, the root token's included; restore it from your backup, or "
                f"move {path.name} away to start with empty storage"
            )

    def _move_to_log(self) -> None:
        """Move leases and tokens a TinyDB-only file holds (written before the split)
        into the log: written there durably first, then deleted from TinyDB, so a crash
        in between leaves them in both and the next open moves them again."""
        moving = self._config.items_now(LOG_PREFIXES)
        if not moving:
            return
        self._log.write_now(moving)
        self._config.write_now(dict.fromkeys(moving))
        logger.info("moved leases and tokens to %s count=%d", self._log.path, len(moving))

    @property
    def path(self) -> Path:
        return self._config.path

    @property
    def config_store(self) -> TinyDBStore:
        return self._config

    @property
    def log_store(self) -> LogStore:
        return self._log

    def view(self, prefix: str) -> StorageView:
        return StorageView(self, prefix)

    async def get(self, key: str) -> Any | None:
        return await (self._log if _in_log(key) else self._config).get(key)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        if _in_log(prefix):
            return await self._log.list(prefix)
        found = await self._config.list(prefix)
        if any(routed.startswith(prefix) for routed in LOG_PREFIXES):
            found = sorted(set(found).union(await self._log.list(prefix)))
        return found

    async def put(self, key: str, value: Any) -> None:
        await self.put_many({key: value})

    async def delete(self, key: str) -> None:
        await self.put_many({key: None})

    async def put_many(self, items: Mapping[str, Any | None]) -> None:
        """Apply the batch in the one file its keys live in (see the class doc)."""
        routed = {_in_log(key) for key in items}
        if len(routed) > 1:
            raise StorageError(
                "a storage batch cannot mix lease or token keys with other keys: "
                + ", ".join(sorted(items))
            )
        if routed:
            await (self._log if routed.pop() else self._config).put_many(items)

    async def close(self) -> None:
        try:
            await self._log.close()
        finally:
            await self._config.close()
