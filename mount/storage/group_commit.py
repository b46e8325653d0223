"""Group commit: concurrent writers share one durable write, in submission order; and
GroupCommittedStore, what the file stores built on it share."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mount.sdk.storage import StorageError, encode_batch
from mount.storage.views import StorageView

__all__ = ["GroupCommit", "GroupCommittedStore"]

logger = logging.getLogger(__name__)

Batch = dict[str, str | None]


class GroupCommit:
    """Merges the batches submitted while a write runs into the next one.

    `commit` makes one merged batch durable (raising on failure, which every submitter of
    that batch gets); `after`, if given, runs once those submitters are released (e.g.
    compaction), its failure logged, not raised. A batch is never split across commits.
    """

    def __init__(
        self,
        commit: Callable[[Batch], Awaitable[None]],
        *,
        name: str,
        after: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._commit = commit
        self._after = after
        self._name = name
        self._pending: Batch = {}
        self._done: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, batch: Batch) -> None:
        """Return once `batch` (merged with others) is durable."""
        loop = asyncio.get_running_loop()
        self._pending.update(batch)
        if self._done is None:
            self._done = loop.create_future()
        done = self._done
        if self._writer is None:
            self._writer = loop.create_task(self._run())
        # Shielded: a cancelled caller stops waiting, but its write still happens, once.
        await asyncio.shield(done)

    @property
    def writing(self) -> bool:
        """A merged batch is being written and nothing new waits for the next one."""
        return self._writer is not None and not self._pending

    @property
    def waiting(self) -> int:
        """How many keys wait for the next write."""
        return len(self._pending)

    async def drain(self) -> None:
        """Wait until nothing submitted is still being written."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writer)

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                done, self._done = self._done, None
                assert done is not None
                try:
                    await self._commit(batch)
                except Exception as exc:
                    done.set_exception(exc)
                    logger.error("storage write failed path=%s error=%s", self._name, exc)
                    continue
                done.set_result(None)
                if self._after is not None:
                    try:
                        await self._after()
                    except Exception as exc:  # the data is durable: keep writing
                        logger.error("storage upkeep failed path=%s error=%s", self._name, exc)
        finally:
            self._writer = None


class GroupCommittedStore:
    """What a file store on one worker thread shares: encoding on the caller's side,
    group-committed writes, and closing after the last write. Subclasses provide
    `get`, `list`, `_commit(batch)` (one durable write) and `_close()` (on the worker)."""

    _path: Path
    _executor: ThreadPoolExecutor
    _commits: GroupCommit
    _closed: bool

    @property
    def path(self) -> Path:
        return self._path

    def view(self, prefix: str) -> StorageView:
        return StorageView(self, prefix)

    async def get(self, key: str) -> Any | None:
        raise NotImplementedError

    async def list(self, prefix: str = "") -> builtins.list[str]:
        raise NotImplementedError

    async def put(self, key: str, value: Any) -> None:
        await self.put_many({key: value})

    async def delete(self, key: str) -> None:
        await self.put_many({key: None})

    async def put_many(self, items: Mapping[str, Any | None]) -> None:
        """Apply puts (and deletes, for None values) together, in one durable write.

        Returns once that write is durable. The batch is all or nothing: it is never
        split across writes.
        """
        encoded = encode_batch(items)
        if not encoded:
            return
        self._ensure_open()
        await self._commits.submit(encoded)

    async def close(self) -> None:
        """Wait for pending writes, then release the file and the worker thread."""
        if self._closed:
            return
        await self._commits.drain()
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close)
        finally:
            self._executor.shutdown(wait=False)

    def write_now(self, items: Mapping[str, Any | None]) -> None:
        """A blocking durable write, for opening only: nothing else may be writing.

        Moving keys between stores at start-up happens before the event loop serves, in
        a constructor, where the group-committed async path cannot run.
        """
        encoded = encode_batch(items)
        if encoded:
            self._ensure_open()
            self._executor.submit(self._write_now, encoded).result()

    def close_now(self) -> None:
        """Release the file and the worker thread at once, for a failed open (no writes
        pending)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._executor.submit(self._close).result()
        finally:
            self._executor.shutdown(wait=True)

    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageError(f"storage {self._path} is closed")

    def _write_now(self, batch: dict[str, str | None]) -> None:
        """One durable write on the worker thread (see write_now)."""
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError
