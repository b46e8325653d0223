"""Lease changes: stored first, as one batch under `expire/id/`, then applied in memory.

Applying a change also hands the lease to the expiry worker (the scheduler), so that a
lease in memory always has its due time in the worker's heap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from mount.leases.record import LEASE_PREFIX, Lease
from mount.leases.table import LeaseTable
from mount.sdk.logical import BatchStorage

__all__ = ["LeaseJournal", "RevokeScheduler"]


class RevokeScheduler(Protocol):
    def schedule(self, lease: Lease) -> None: ...


class LeaseJournal:
    """Writes lease changes to storage and to the table, in that order."""

    def __init__(self, storage: BatchStorage, table: LeaseTable) -> None:
        self.storage = storage
        self.table = table
        self.scheduler: RevokeScheduler | None = None
        # Called with the id of each lease forgotten (the restore and the revocation
        # state keep their own records of lease ids).
        self.on_forget: list[Callable[[str], None]] = []

    async def write(self, changes: Mapping[str, Lease | None]) -> None:
        """Persist lease changes as one storage batch, then apply them in memory."""
        items: dict[str, Any] = {
            LEASE_PREFIX + lease_id: None if lease is None else lease.to_storage()
            for lease_id, lease in changes.items()
        }
        await self.storage.put_many(items)
        for lease_id, lease in changes.items():
            if lease is None:
                self.forget(lease_id)
            else:
                self.admit(lease)

    def admit(self, lease: Lease) -> None:
        """Put a lease in memory (stored already, or about to be revoked) and schedule it."""
        self.table.remember(lease)
        if self.scheduler is not None:
            self.scheduler.schedule(lease)

    def forget(self, lease_id: str) -> None:
        for callback in self.on_forget:
            callback(lease_id)
        self.table.forget(lease_id)
