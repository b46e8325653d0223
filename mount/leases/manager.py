"""The lease manager: issue, renew (Vault's TTL clamp) and revoke leases, and look them up.

Invariant: a lease is persisted before its credential exists, and removed only after the
backend confirmed the credential is gone (or the credential was superseded by a newer
lease of the same holder, whose issue already replaced it, or an operator force-revoked
it). A revocation that fails is retried on a schedule until one of those happens (see
revocation.py). The leases in memory are the table's (table.py), every change goes
through the journal (journal.py), and the restore at start is restore.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any, NamedTuple

from mount.ids import random_id
from mount.leases.events import log_lease_event, safe_error
from mount.leases.journal import LeaseJournal, RevokeScheduler
from mount.leases.quota import check_lease_counts
from mount.leases.record import Lease, LeaseState
from mount.leases.restore import LeaseRestore, LeaseRestoreError
from mount.leases.revocation import Revoker, SecretResolver
from mount.leases.settings import LeaseSettings
from mount.leases.table import LeaseTable
from mount.sdk.errors import InvalidRequestError, VaultError, definitely_failed
from mount.sdk.logical import BatchStorage, Issued, IssueFn, SecretRequest, SecretSpec
from mount.sdk.telemetry import (
    CREDS_ISSUED,
    LEASE_RENEWALS,
    MetricsSink,
    NullSink,
    RevokeResult,
)
from mount.sdk.ttl import TTLLimits, calculate_ttl, effective_max_ttl

__all__ = ["LeaseManager"]

logger = logging.getLogger(__name__)


class Renewal(NamedTuple):
    """A renewed lease, the warnings of a cap, and the TTL the renewal granted."""

    lease: Lease
    warnings: list[str]
    ttl: int


class LeaseManager:
    """Owns every lease: in memory for speed, persisted under `expire/id/<lease_id>`."""

    def __init__(
        self,
        storage: BatchStorage,
        resolver: SecretResolver,
        settings: LeaseSettings,
        clock: Callable[[], float] = time.time,
        metrics: MetricsSink | None = None,
    ) -> None:
        self._resolve = resolver
        self.settings = settings
        self._clock = clock
        self.metrics: MetricsSink = metrics or NullSink()
        self._table = LeaseTable()
        self._journal = LeaseJournal(storage, self._table)
        self._restore = LeaseRestore(self._journal, clock)
        self._revoker = Revoker(self._journal, resolver, settings, clock, self.metrics)
        # Called once if the background restore fails, with the error (the server stops).
        self.on_restore_failed: list[Callable[[LeaseRestoreError], None]] = self._restore.on_failed

    @property
    def scheduler(self) -> RevokeScheduler | None:
        """Handed every lease whose due time may have changed (the expiry worker)."""
        return self._journal.scheduler

    @scheduler.setter
    def scheduler(self, scheduler: RevokeScheduler | None) -> None:
        self._journal.scheduler = scheduler

    # -- restoring at start -----------------------------------------------------------

    async def start_restore(self) -> None:
        """List the stored leases, restore the first now and the rest in the background."""
        await self._restore.start()

    def is_restored(self) -> bool:
        """Whether every stored lease is in memory (the restore at start is over)."""
        return self._restore.is_done()

    def restore_progress(self) -> tuple[int, int]:
        """Stored leases restored so far and in all, while the restore runs."""
        return self._restore.progress()

    async def wait_restored(self) -> None:
        """Wait until every stored lease is in memory; for operations over all leases."""
        await self._restore.wait()

    async def stop_restore(self) -> None:
        """Cancel a restore still running (the server is stopping)."""
        await self._restore.stop()

    # -- queries ------------------------------------------------------------------

    @property
    def clock(self) -> Callable[[], float]:
        """The clock lease times are read from (the expiry worker uses it too)."""
        return self._clock

    def get(self, lease_id: str) -> Lease | None:
        """The lease if it is in memory (during the restore, maybe not yet)."""
        return self._table.get(lease_id)

    def all(self) -> Iterable[Lease]:
        """The leases in memory; every stored one only once `wait_restored` returned."""
        return self._table.all()

    def active_count(self) -> int:
        return len(self._table)

    def irrevocable(self) -> list[Lease]:
        """Irrevocable leases in memory; complete once `wait_restored` returned."""
        return self._table.irrevocable()

    def list_keys(self, prefix: str) -> list[str]:
        """Direct children under `prefix` among all lease ids (Vault's LIST semantics).

        Complete once `wait_restored` returned.
        """
        return self._table.list_keys(prefix)

    async def lookup(self, lease_id: str) -> Lease:
        lease = await self._restore.find(lease_id)
        if lease is None or (
            lease.state is not LeaseState.IRREVOCABLE
            and (lease.state is LeaseState.PENDING or lease.expire_time <= self._clock())
        ):
            raise InvalidRequestError("invalid lease")
        return lease

    # -- issue ----------------------------------------------------------------------

    async def issue(
        self,
        *,
        mount: str,
        request_path: str,
        spec: SecretSpec,
        issue: IssueFn,
        token_accessor: str = "",
        mount_default: int = 0,
        mount_max: int = 0,
    ) -> tuple[Lease, dict[str, Any]]:
        """Persist a pending lease, create the credential, then activate the lease.

        `mount_default`/`mount_max`: the mount's tuned TTLs (0: the server's).
        """
        # The holder's earlier leases and the lease counts must all be known.
        await self.wait_restored()
        check_lease_counts(self._table, self.settings, mount, request_path, self._clock())
        limits = TTLLimits(
            mount_default=mount_default or self.settings.default_lease_ttl,
            mount_max=mount_max or self.settings.max_lease_ttl,
            ttl=int(spec.ttl.total_seconds()),
            max_ttl=int(spec.max_ttl.total_seconds()),
        )
        # The engine warns of a cap itself (the same calculation, with its role's TTLs).
        now = self._clock()
        ttl, _ = calculate_ttl(limits, start=now, now=now)
        max_ttl = effective_max_ttl(limits)
        holder = spec.holder_key and f"{mount}{spec.holder_key}"
        lock = self._table.holder_lock(holder) if holder else None
        if lock is None:
            return await self._issue_locked(
                mount, request_path, spec, issue, ttl, max_ttl, holder, token_accessor
            )
        async with lock:
            return await self._issue_locked(
                mount, request_path, spec, issue, ttl, max_ttl, holder, token_accessor
            )

    async def _issue_locked(
        self,
        mount: str,
        request_path: str,
        spec: SecretSpec,
        issue: IssueFn,
        ttl: int,
        max_ttl: int,
        holder: str | None,
        token_accessor: str,
    ) -> tuple[Lease, dict[str, Any]]:
        earlier = sorted(self._table.held_by(holder)) if holder else []
        now = self._clock()
        lease = Lease(
            lease_id=f"{request_path}/{random_id()}",
            mount=mount,
            secret_type=spec.type,
            internal=dict(spec.internal),
            issue_time=now,
            expire_time=now + ttl,
            ttl=ttl,
            max_ttl=max_ttl,
            renewable=spec.renewable,
            state=LeaseState.PENDING,
            holder_key=holder,
            token_accessor=token_accessor,
        )
        await self._journal.write({lease.lease_id: lease})
        try:
            issued = await issue()
        except BaseException as exc:
            await self._abandon(lease, exc)
            raise
        active = await self._activate(lease, spec, issued, earlier)
        self.metrics.incr(CREDS_ISSUED, {"mount": active.mount, "role": active.role})
        log_lease_event(logging.INFO, "issued", "lease issued", active, ttl=ttl)
        return active, issued.data

    async def _activate(
        self, lease: Lease, spec: SecretSpec, issued: Issued, earlier: list[str]
    ) -> Lease:
        """Store the lease as active, ending the holder's earlier leases in the same batch."""
        now = self._clock()
        # issue() may have returned what only creating the credential told it (the id
        # of a client secret or pass), for revoke to use.
        internal = spec.internal if issued.internal is None else issued.internal
        active = replace(
            lease,
            state=LeaseState.ACTIVE,
            issue_time=now,
            expire_time=now + lease.ttl,
            internal=dict(internal),
        )
        changes: dict[str, Lease | None] = {active.lease_id: active}
        async with contextlib.AsyncExitStack() as held:
            # Every change to a lease holds its lock: a renew or queued revoke of an
            # earlier lease running now must not write it back after it was superseded.
            for old in earlier:
                await held.enter_async_context(self._table.lease_lock(old))
            # The new credential replaced the holder's earlier ones: their leases end
            # here, without a backend call, since nothing of theirs is left to revoke
            # (irrevocable ones too: a retry of theirs would kill the new credential).
            superseded = [self._table[old] for old in earlier if old in self._table]
            changes.update({ended.lease_id: None for ended in superseded})
            await self._write_activation(lease, changes)
        for ended in superseded:
            self._revoker.count(ended, RevokeResult.SUPERSEDED)
            log_lease_event(
                logging.INFO, "superseded", "lease superseded", ended, by=active.lease_id
            )
        return active

    async def _write_activation(self, lease: Lease, changes: dict[str, Lease | None]) -> None:
        try:
            await self._journal.write(changes)
        except BaseException:
            # The credential exists but its activation was not stored: the pending record
            # on disk already makes a restart revoke it; revoke it now in this process too.
            self._journal.admit(replace(lease, revoke_at=self._clock()))
            log_lease_event(
                logging.ERROR, "activation_failed", "lease activation not stored, revoking", lease
            )
            raise

    async def _abandon(self, lease: Lease, exc: BaseException) -> None:
        """Undo a pending lease whose issue failed; revoke it if the credential may exist."""
        if definitely_failed(exc):
            await self._journal.write({lease.lease_id: None})
            log_lease_event(
                logging.INFO,
                "issue_failed",
                "lease dropped, issue failed",
                lease,
                error=safe_error(exc),
            )
            return
        # Unknown outcome (timeout, 5xx, cancellation): assume the credential exists.
        await self._journal.write(
            {lease.lease_id: replace(lease, state=LeaseState.ACTIVE, revoke_at=self._clock())}
        )
        log_lease_event(
            logging.WARNING,
            "issue_unknown",
            "issue outcome unknown, revoking",
            lease,
            error=safe_error(exc),
        )

    # -- renew ----------------------------------------------------------------------

    async def renew(self, lease_id: str, increment: int) -> Renewal:
        """Vault's renew: TTL from now, capped at issue time + max TTL with a warning."""
        await self._restore.find(lease_id)
        async with self._table.lease_lock(lease_id):
            lease = self._table.get(lease_id)
            if lease is None or lease.state is LeaseState.PENDING:
                raise InvalidRequestError("lease not found")
            if lease.state is LeaseState.IRREVOCABLE:
                raise InvalidRequestError(
                    "lease is expired and has failed previous revocation attempts"
                )
            now = self._clock()
            if lease.expire_time <= now or lease.revoke_at is not None:
                raise InvalidRequestError("lease expired")
            if not lease.renewable:
                raise InvalidRequestError("lease is not renewable")
            backend_ttl, backend_max = await self._backend_renew(lease)
            limits = TTLLimits(mount_default=backend_ttl, mount_max=backend_max)
            try:
                ttl, warnings = calculate_ttl(
                    limits, start=lease.issue_time, now=now, increment=max(increment, 0)
                )
            except InvalidRequestError as exc:
                raise InvalidRequestError(
                    f"failed to renew entry: resp: (*logical.Response)(nil) err: {exc.message}"
                ) from None
            renewed = replace(lease, expire_time=now + ttl, last_renewal=now)
            await self._journal.write({lease_id: renewed})
            self.metrics.incr(LEASE_RENEWALS, {"mount": lease.mount, "role": lease.role})
            log_lease_event(logging.INFO, "renewed", "lease renewed", renewed, ttl=ttl)
            return Renewal(renewed, warnings, ttl)

    async def _backend_renew(self, lease: Lease) -> tuple[int, int]:
        """The backend's TTL and max TTL for a renewal (the lease's own without a say)."""
        backend_ttl, backend_max = lease.ttl, lease.max_ttl
        resolved = self._resolve(lease.mount, lease.secret_type)
        if resolved is not None and resolved[0].renew is not None:
            secret_type, storage = resolved
            assert secret_type.renew is not None
            allowed = await secret_type.renew(
                SecretRequest(storage=storage, internal=lease.internal, lease_path=lease.path)
            )
            if allowed is not None:
                backend_ttl = int(allowed.ttl.total_seconds()) or self.settings.default_lease_ttl
                # The role's max within the system's (Vault's rule), and never past the
                # max the lease was issued with.
                # (The max the lease was issued with is its mount's, tuned or not.)
                allowed_max = TTLLimits(
                    mount_default=0,
                    mount_max=lease.max_ttl or self.settings.max_lease_ttl,
                    max_ttl=int(allowed.max_ttl.total_seconds()),
                )
                backend_max = min(effective_max_ttl(allowed_max), lease.max_ttl)
        elif resolved is not None:
            raise InvalidRequestError("lease is not renewable")
        return backend_ttl, backend_max

    # -- revoke ---------------------------------------------------------------------

    async def revoke(self, lease_id: str, *, sync: bool) -> None:
        """Revoke now (sync) or hand it to the expiry worker; unknown ids are fine."""
        lease = await self._restore.find(lease_id)
        if lease is None:
            return
        if not sync:
            await self.queue_revoke(lease)
            return
        await self.revoke_now(lease_id, raise_errors=True)

    async def queue_revoke(self, lease: Lease) -> None:
        """Hand a lease to the expiry worker, due now (a no-op if it is queued already)."""
        await self._revoker.queue(lease)

    async def revoke_now(
        self, lease_id: str, *, raise_errors: bool = False, scheduled: bool = False
    ) -> bool:
        """Run the backend's revoke; on success forget the lease, else schedule a retry.

        Returns True when the lease is gone; see `Revoker.revoke_now`.
        """
        return await self._revoker.revoke_now(
            lease_id, raise_errors=raise_errors, scheduled=scheduled
        )

    async def revoke_by_token(self, accessor: str) -> int:
        """Queue the revocation of every lease obtained with a token (it was revoked)."""
        if not accessor:
            return 0
        await self.wait_restored()
        owned = self._table.owned_by(accessor)
        for lease in owned:
            await self.queue_revoke(lease)
        if owned:
            logger.info("leases of revoked token queued for revocation count=%d", len(owned))
        return len(owned)

    async def matching(self, prefix: str) -> list[str]:
        """Lease ids under a prefix; a prefix that is itself a lease id matches just it."""
        await self.wait_restored()
        return self._table.matching(prefix)

    async def revoke_prefix(self, prefix: str, *, sync: bool) -> None:
        ids = await self.matching(prefix)
        if not sync:
            for lease_id in ids:
                lease = self._table.get(lease_id)
                if lease is not None:
                    await self.queue_revoke(lease)
            return
        results = await asyncio.gather(
            *(self.revoke_now(lid, raise_errors=True) for lid in ids), return_exceptions=True
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            first = failures[0]
            if isinstance(first, VaultError):
                raise first
            raise VaultError(f"failed to revoke {len(failures)} of {len(ids)} leases")

    async def revoke_force(self, prefix: str) -> int:
        """Revoke ignoring backend errors, then delete the leases (Vault's revoke-force)."""
        ids = await self.matching(prefix)
        await self._revoker.force(ids)
        return len(ids)

    async def tidy(self, mounts: Iterable[str]) -> int:
        """Revoke leases of mounts that no longer exist; returns how many were found."""
        known = set(mounts)
        await self.wait_restored()
        stale = [le for le in self._table.all() if le.mount not in known]
        for lease in stale:
            await self.queue_revoke(lease)
        return len(stale)
