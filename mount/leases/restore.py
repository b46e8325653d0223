"""The restore at start (Vault's restore mode): every stored lease back into memory.

The first lease is read before the server serves, the rest in the background; requests
naming one lease read it on demand meanwhile (`find`), and those needing every lease wait
(`wait`). The expiry worker is handed each lease as it is restored.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace

from mount.leases.events import lease_logger as logger
from mount.leases.events import log_lease_event
from mount.leases.journal import LeaseJournal
from mount.leases.record import LEASE_PREFIX, Lease, LeaseState
from mount.sdk.errors import VaultError
from mount.sdk.logical import Storage
from mount.storage.barrier import BarrierError
from mount.storage.store import StorageError, return_freed_memory

__all__ = ["LeaseRestore", "LeaseRestoreError"]

# The background restore lets requests in after this many leases (~10 ms of work).
_RESTORE_SLICE = 500
# A restore this long logs its progress (TinyDB takes seconds per 10,000 leases).
_RESTORE_REPORT_SECONDS = 5.0


class LeaseRestoreError(VaultError):
    """A stored lease cannot be read back at start: the server must not go on without it."""


class LeaseRestore:
    """Restores the stored leases into the journal's table, once, at start."""

    def __init__(self, journal: LeaseJournal, clock: Callable[[], float]) -> None:
        self._journal = journal
        self._table = journal.table
        self._clock = clock
        # The stored lease ids, sorted; the ones from `_next` on may not be in memory yet.
        # Ids forgotten meanwhile are kept in `_dropped`, so that a read of one from
        # before its deletion is not revived.
        self._ids: list[str] = []
        self._next = 0
        self._dropped: set[str] = set()
        self._restored = asyncio.Event()
        self.error: LeaseRestoreError | None = None
        self._task: asyncio.Task[None] | None = None
        self.seconds: float | None = None
        # Called once if the background restore fails, with the error (the server stops).
        self.on_failed: list[Callable[[LeaseRestoreError], None]] = []
        journal.on_forget.append(self._forgotten)

    def _forgotten(self, lease_id: str) -> None:
        if self._ids:
            self._dropped.add(lease_id)

    async def start(self) -> None:
        """List the stored leases, restore the first now and the rest in the background.

        Restoring the first lease before serving turns a store whose values cannot be
        read (another seal key, damaged data) into a start-up error. Meanwhile requests
        naming one lease load it on demand, and those needing every lease wait (see
        `wait`); the expiry worker is handed each lease as it is restored.
        """
        started = time.monotonic()
        # In key order: the log store reads cold (on-disk) values ahead in that order.
        ids = sorted(await _walk(self._journal.storage, LEASE_PREFIX))
        self._ids = ids
        if ids:
            await self._load(ids[0])
            self._next = 1
        if len(ids) <= 1:
            self._finish(started)
            return
        logger.info("restoring leases in the background count=%d", len(ids))
        self._task = asyncio.create_task(self._restore_rest(started), name="lease-restore")

    async def _restore_rest(self, started: float) -> None:
        ids = self._ids
        reported = started
        try:
            for index in range(self._next, len(ids)):
                self._next = index
                await self._load(ids[index])
                if index % _RESTORE_SLICE == 0:
                    await asyncio.sleep(0)  # let waiting requests run
                    if time.monotonic() - reported >= _RESTORE_REPORT_SECONDS:
                        reported = time.monotonic()
                        logger.info("restoring leases restored=%d count=%d", index, len(ids))
            self._next = len(ids)
        except asyncio.CancelledError:
            self.error = LeaseRestoreError("the server stopped before every lease was restored")
            self._restored.set()
            raise
        except Exception as exc:
            # Waiters must not wait forever, whatever went wrong.
            self.error = (
                exc
                if isinstance(exc, LeaseRestoreError)
                else LeaseRestoreError(f"lease restore failed ({type(exc).__name__})")
            )
        if self.error is not None:
            logger.error("lease restore failed: %s", self.error.message)
            self._restored.set()
            for callback in self.on_failed:
                callback(self.error)
            return
        self._finish(started)

    def _finish(self, started: float) -> None:
        count = len(self._ids)
        self._ids = []
        self._next = 0
        self._dropped.clear()
        self.seconds = time.monotonic() - started
        self._restored.set()
        # Decrypting and parsing every lease left its buffers in the C heap's free list.
        return_freed_memory()
        logger.info(
            "leases restored count=%d active=%d seconds=%.2f",
            count,
            len(self._table),
            self.seconds,
        )

    async def _load(self, lease_id: str) -> None:
        """Read one stored lease into memory, unless it is there already or was dropped."""
        try:
            raw = await self._journal.storage.get(LEASE_PREFIX + lease_id)
            if raw is None or lease_id in self._table or lease_id in self._dropped:
                return  # deleted, or loaded on demand (and maybe changed) meanwhile
            lease = Lease.from_storage(raw)
        except (StorageError, BarrierError) as exc:
            # Already one sentence naming the entry; the server stops with it as it is.
            raise LeaseRestoreError(str(exc)) from None
        except Exception as exc:
            raise LeaseRestoreError(
                f"cannot restore lease {lease_id}: its stored value is not a lease record "
                f"({type(exc).__name__}); restore the storage from a backup"
            ) from None
        if lease.state is LeaseState.PENDING and not lease.revoke_attempts:
            # The process died while issuing: the credential may exist, so revoke it.
            lease = replace(lease, revoke_at=self._clock())
            log_lease_event(
                logging.WARNING,
                "pending_at_start",
                "pending lease found at start, revoking",
                lease,
            )
        elif lease.revoke_at is None and lease.state is not LeaseState.ACTIVE:
            # Parked for good by an older version: retried again from now on.
            lease = replace(lease, revoke_at=self._clock())
            log_lease_event(
                logging.WARNING,
                "irrevocable_rescheduled",
                "irrevocable lease found at start, retrying its revocation",
                lease,
            )
        # Any other lease keeps its stored schedule (revoke_at, revoke_attempts).
        self._journal.admit(lease)

    def is_done(self) -> bool:
        """Whether every stored lease is in memory (the restore at start is over)."""
        return self._restored.is_set() and self.error is None

    def progress(self) -> tuple[int, int]:
        """Stored leases restored so far and in all, while the restore runs."""
        if self._restored.is_set():
            return len(self._table), len(self._table)
        return self._next, len(self._ids)

    async def wait(self) -> None:
        """Wait until every stored lease is in memory; for operations over all leases."""
        if not self._restored.is_set():
            await self._restored.wait()
        if self.error is not None:
            raise self.error

    async def stop(self) -> None:
        """Cancel a restore still running (the server is stopping)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _not_restored_yet(self, lease_id: str) -> bool:
        ids = self._ids
        if not ids or lease_id in self._dropped:
            return False
        index = bisect.bisect_left(ids, lease_id, self._next)
        return index < len(ids) and ids[index] == lease_id

    async def find(self, lease_id: str) -> Lease | None:
        """The lease by id; during the restore, one not restored yet is read on demand."""
        lease = self._table.get(lease_id)
        if lease is None and self._not_restored_yet(lease_id):
            await self._load(lease_id)
            lease = self._table.get(lease_id)
        return lease


async def _walk(storage: Storage, prefix: str) -> list[str]:
    """Every key under `prefix`, relative to it, walking folders depth first."""
    found: list[str] = []
    pending = [""]
    while pending:
        folder = pending.pop()
        for child in await storage.list(prefix + folder):
            if child.endswith("/"):
                pending.append(folder + child)
            else:
                found.append(folder + child)
    return found
