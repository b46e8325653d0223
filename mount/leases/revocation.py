"""Revocation: the backend call, the retry schedule of failed ones, irrevocable, force.

A failed revocation is retried after base x 2^(n-1) seconds (n: failed attempts), at most
`revoke_backoff_max`, jittered down by up to half, never before a Retry-After the upstream
asked for (up to that maximum); a failure no quick retry cures every
`revoke_slow_interval`. Past `max_revoke_attempts` (or at once for a failure no quick
retry cures) the lease also shows as irrevocable, and its retries go on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Protocol

from mount.leases.events import log_lease_event, safe_error
from mount.leases.journal import LeaseJournal
from mount.leases.record import Lease, LeaseState
from mount.leases.settings import LeaseSettings
from mount.sdk.durations import format_duration
from mount.sdk.errors import RateLimitedError, UnavailableError, UpstreamError, VaultError
from mount.sdk.framework import SecretType
from mount.sdk.logical import SecretRequest, Storage
from mount.sdk.telemetry import REVOCATIONS, MetricsSink, RevokeResult

__all__ = ["RevocationPendingError", "Revoker", "SecretResolver"]


class RevocationPendingError(VaultError):
    """A revoke asked for while the lease's failed revocation waits for its next attempt.

    It answers with the status of the last failure (502 for Graph): the credential still
    exists, and the retry is the broker's to make, on its schedule.
    """

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class SecretResolver(Protocol):
    """Finds the secret type and storage view of the mount a lease belongs to."""

    def __call__(self, mount: str, secret_type: str) -> tuple[SecretType, Storage] | None: ...


class Revoker:
    """Revokes leases through their backend, and reschedules the ones that failed."""

    def __init__(
        self,
        journal: LeaseJournal,
        resolver: SecretResolver,
        settings: LeaseSettings,
        clock: Callable[[], float],
        metrics: MetricsSink,
    ) -> None:
        self._journal = journal
        self._table = journal.table
        self._resolve = resolver
        self.settings = settings
        self._clock = clock
        self.metrics = metrics
        # The HTTP status of each lease's last failed revocation (in memory: after a
        # restart a revoke joining the schedule answers 502).
        self._status: dict[str, int] = {}
        journal.on_forget.append(self._forgotten)

    def _forgotten(self, lease_id: str) -> None:
        self._status.pop(lease_id, None)

    async def queue(self, lease: Lease) -> None:
        async with self._table.lease_lock(lease.lease_id):
            current = self._table.get(lease.lease_id)
            if current is None:
                return  # revoked or superseded meanwhile: nothing to queue
            await self._queue_locked(current)

    async def _queue_locked(self, lease: Lease) -> None:
        if lease.revoke_at is not None:
            # Queued already, or a failed revocation waiting for its next attempt: this
            # revoke joins that attempt rather than spending one (see revoke_now).
            return
        now = self._clock()
        queued = replace(lease, expire_time=min(lease.expire_time, now), revoke_at=now)
        await self._journal.write({lease.lease_id: queued})

    async def force(self, ids: Iterable[str]) -> None:
        """Revoke ignoring backend errors, then delete the leases (Vault's revoke-force)."""
        for lease_id in ids:
            lease = self._table.get(lease_id)
            if lease is None:
                continue
            try:
                await asyncio.wait_for(
                    self.backend_revoke(lease), self.settings.force_revoke_timeout
                )
            except Exception as exc:  # force means: errors do not stop us
                log_lease_event(
                    logging.WARNING,
                    "force_revoke_error",
                    "force revoke ignored a backend error",
                    lease,
                    error=safe_error(exc),
                )
            async with self._table.lease_lock(lease_id):
                if lease_id not in self._table:
                    continue  # revoked meanwhile, and counted as such
                await self._journal.write({lease_id: None})
            self.count(lease, RevokeResult.FORCED)
            log_lease_event(logging.WARNING, "force_revoked", "lease force-revoked", lease)

    async def backend_revoke(self, lease: Lease) -> None:
        resolved = self._resolve(lease.mount, lease.secret_type)
        if resolved is None:
            raise VaultError(
                f"no secrets engine is mounted at {lease.mount} to revoke {lease.lease_id}"
            )
        secret_type, storage = resolved
        await secret_type.revoke(
            SecretRequest(storage=storage, internal=lease.internal, lease_path=lease.path)
        )

    async def revoke_now(
        self, lease_id: str, *, raise_errors: bool = False, scheduled: bool = False
    ) -> bool:
        """Run the backend's revoke; on success forget the lease, else schedule a retry.

        Returns True when the lease is gone. Failures are retried on the schedule of
        `LeaseSettings`, forever; past `max_revoke_attempts` the lease is also listed as
        irrevocable. `scheduled` is the expiry worker's attempt: it runs only if the lease
        is still due. Any other caller (a client's revoke) arriving while a failed
        revocation waits for its next attempt joins it: no backend call, no attempt
        spent; with `raise_errors` it gets a RevocationPendingError naming the last error.
        """
        lease = self._table.get(lease_id)
        if lease is None:
            return True
        # A holder's revoke and a new issue for the same holder must not interleave: a
        # late revoke would reset the password the new lease just handed out.
        holder_lock = self._table.holder_lock(lease.holder_key) if lease.holder_key else None
        if holder_lock is None:
            return await self._revoke_locked(lease_id, raise_errors, scheduled)
        async with holder_lock:
            return await self._revoke_locked(lease_id, raise_errors, scheduled)

    async def _revoke_locked(self, lease_id: str, raise_errors: bool, scheduled: bool) -> bool:
        async with self._table.lease_lock(lease_id):
            lease = self._table.get(lease_id)
            if lease is None:
                return True
            now = self._clock()
            if scheduled:
                due = lease.due
                if due is None or due > now:
                    return False  # attempted (and rescheduled) or renewed meanwhile
            elif lease.in_backoff(now):
                if raise_errors:
                    raise self._pending_error(lease, now)
                return False
            try:
                await self.backend_revoke(lease)
            except Exception as exc:
                await self._failed(lease, exc)
                if raise_errors:
                    if isinstance(exc, VaultError):
                        raise
                    raise VaultError(f"failed to revoke lease {lease_id}") from exc
                return False
            await self._journal.write({lease_id: None})
            self.count(lease, RevokeResult.OK)
            if lease.revoke_attempts:
                log_lease_event(
                    logging.INFO,
                    "revoked",
                    "lease revoked",
                    lease,
                    failed_attempts=lease.revoke_attempts,
                )
            else:
                log_lease_event(logging.INFO, "revoked", "lease revoked", lease)
            return True

    def _pending_error(self, lease: Lease, now: float) -> RevocationPendingError:
        assert lease.revoke_at is not None
        wait = format_duration(max(0, math.ceil(lease.revoke_at - now)))
        attempts = (
            "1 attempt" if lease.revoke_attempts == 1 else f"{lease.revoke_attempts} attempts"
        )
        return RevocationPendingError(
            f"revoking lease {lease.lease_id} failed ({attempts}) and is retried "
            f"automatically in {wait}; this request started no other attempt. "
            f"Last error: {lease.revoke_error}",
            self._status.get(lease.lease_id, UpstreamError.status),
        )

    def count(self, lease: Lease, result: RevokeResult) -> None:
        self.metrics.incr(REVOCATIONS, {"mount": lease.mount, "result": result.value})

    async def _failed(self, lease: Lease, exc: Exception) -> None:
        attempts = lease.revoke_attempts + 1
        reason = safe_error(exc)
        now = self._clock()
        settings = self.settings
        quick = _retryable(exc)
        if quick:
            delay = _backoff(attempts, settings, _asked_wait(exc))
        else:
            # A permission withdrawn, the engine's own secret rejected: only a fix cures
            # it, and restoring the permission must be enough, so retry slowly, forever.
            delay = _jittered(settings.revoke_slow_interval)
        was_parked = lease.state is LeaseState.IRREVOCABLE
        parked = was_parked or not quick or attempts >= settings.max_revoke_attempts
        if not parked:
            error = reason
        elif quick:
            error = f"failed {attempts} times, retrying: {reason}"
        else:
            every = format_duration(int(settings.revoke_slow_interval))
            error = f"not retryable, retried every {every}: {reason}"
        failed = replace(
            lease,
            state=LeaseState.IRREVOCABLE if parked else lease.state,
            expire_time=min(lease.expire_time, now),
            revoke_attempts=attempts,
            revoke_error=error[:240],
            revoke_at=now + delay,
        )
        fields: dict[str, str | int | float] = {
            "attempt": attempts,
            "retry_in": round(delay, 1),
            "error": reason,
        }
        if parked and not was_parked:
            result = RevokeResult.IRREVOCABLE
            log_lease_event(logging.ERROR, "irrevocable", "lease irrevocable", lease, **fields)
        else:
            result = RevokeResult.RETRIED
            log_lease_event(
                logging.WARNING, "revoke_retry", "lease revoke failed, retrying", lease, **fields
            )
        await self._journal.write({lease.lease_id: failed})
        self._status[lease.lease_id] = (
            exc.status if isinstance(exc, VaultError) else VaultError.status
        )
        self.count(lease, result)


def _retryable(exc: BaseException) -> bool:
    """Whether a quick retry may cure a failed revocation (throttling, 5xx, timeouts)."""
    if isinstance(exc, UpstreamError):
        return exc.retryable
    return isinstance(exc, UnavailableError | RateLimitedError | TimeoutError | OSError)


def _asked_wait(exc: BaseException) -> float | None:
    """The upstream's Retry-After carried by the error, if any."""
    if isinstance(exc, UpstreamError | RateLimitedError):
        return exc.retry_after
    return None


def _jittered(delay: float) -> float:
    """Between half of `delay` and all of it: spreads retries, never later than asked."""
    return delay * random.uniform(0.5, 1.0)


def _backoff(attempt: int, settings: LeaseSettings, retry_after: float | None = None) -> float:
    """Seconds before the next quick retry; the exponent is bounded (it runs forever)."""
    cap = settings.revoke_backoff_max
    delay = _jittered(min(settings.revoke_backoff_base * 2.0 ** min(attempt - 1, 32), cap))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return min(delay, cap)
