"""The lease manager: register, look up, renew (Vault's TTL clamp) and revoke leases.

Invariant: a lease is persisted before its credential exists, and removed only after the
backend confirmed the credential is gone (or the credential was superseded by a newer
lease of the same holder, whose issue already replaced it, or an operator force-revoked
it). A revocation that fails is retried on a schedule until one of those happens; past
`max_revoke_attempts` (or at once for a failure no quick retry cures) the lease also shows
as irrevocable, for operators, but its retries go on.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import enum
import logging
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from mount.ids import random_id, rfc3339
from mount.leases.ratelimit import IssueRateLimiter
from mount.sdk.durations import format_duration
from mount.sdk.errors import (
    InvalidRequestError,
    RateLimitedError,
    UnavailableError,
    UpstreamError,
    VaultError,
)
from mount.sdk.framework import SecretType
from mount.sdk.logical import BatchStorage, IssueFn, SecretRequest, SecretSpec, Storage
from mount.sdk.telemetry import (
    CREDS_ISSUED,
    LEASE_RENEWALS,
    REVOCATIONS,
    MetricsSink,
    NullSink,
    RevokeResult,
)
from mount.storage.barrier import BarrierError
from mount.storage.store import StorageError, return_freed_memory

__all__ = [
    "Lease",
    "LeaseManager",
    "LeaseRestoreError",
    "LeaseSettings",
    "LeaseState",
    "RevocationPendingError",
    "RevokeScheduler",
    "SecretResolver",
    "log_lease_event",
]

logger = logging.getLogger(__name__)

LEASE_PREFIX = "expire/id/"
# The background restore lets requests in after this many leases (~10 ms of work).
_RESTORE_SLICE = 500
# A restore this long logs its progress (TinyDB takes seconds per 10,000 leases).
_RESTORE_REPORT_SECONDS = 5.0
# Durations repeat across leases (a few TTLs): one int object each, up to a bound.
_SHARED_INTS: dict[int, int] = {}
_SHARED_INTS_MAX = 10_000


def _shared_int(number: int) -> int:
    if len(_SHARED_INTS) < _SHARED_INTS_MAX:
        return _SHARED_INTS.setdefault(number, number)
    return _SHARED_INTS.get(number, number)


class LeaseState(enum.Enum):
    PENDING = "pending"  # persisted, credential being created
    ACTIVE = "active"
    # Revocation failed past the attempt count, or for a reason no quick retry cures:
    # shown to operators, and still retried on its schedule (`revoke_at`).
    IRREVOCABLE = "irrevocable"


_STATES = {state.value: state for state in LeaseState}


@dataclass(frozen=True, slots=True)
class Lease:
    """One lease; `internal` is the backend's revoke data (never a secret)."""

    lease_id: str
    mount: str
    secret_type: str
    internal: dict[str, Any]
    issue_time: float
    expire_time: float
    ttl: int
    max_ttl: int
    renewable: bool
    state: LeaseState = LeaseState.ACTIVE
    last_renewal: float | None = None
    holder_key: str | None = None
    # Checked out exclusively: no other lease of the same holder may be issued meanwhile.
    exclusive: bool = False
    token_accessor: str = ""
    revoke_attempts: int = 0
    revoke_error: str = ""
    # When the next revocation attempt is due (set once revocation has started or failed).
    revoke_at: float | None = None

    @property
    def path(self) -> str:
        return self.lease_id.rsplit("/", 1)[0]

    @property
    def role(self) -> str:
        """The role it was issued for: the last element of its request path (creds/<role>)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def due(self) -> float | None:
        """When the expiry worker must act on this lease (None: never on its own)."""
        if self.state is not LeaseState.ACTIVE:
            return self.revoke_at
        return self.revoke_at if self.revoke_at is not None else self.expire_time

    def in_backoff(self, now: float) -> bool:
        """Whether a failed revocation waits for its next scheduled attempt."""
        return self.revoke_attempts > 0 and self.revoke_at is not None and self.revoke_at > now

    def to_storage(self) -> dict[str, Any]:
        # Field by field, not dataclasses.asdict: asdict deep-copies recursively, 3-4% of
        # the broker's CPU per issued credential. The store encodes the result at once.
        return {
            "lease_id": self.lease_id,
            "mount": self.mount,
            "secret_type": self.secret_type,
            "internal": dict(self.internal),
            "issue_time": self.issue_time,
            "expire_time": self.expire_time,
            "ttl": self.ttl,
            "max_ttl": self.max_ttl,
            "renewable": self.renewable,
            "state": self.state.value,
            "last_renewal": self.last_renewal,
            "holder_key": self.holder_key,
            "exclusive": self.exclusive,
            "token_accessor": self.token_accessor,
            "revoke_attempts": self.revoke_attempts,
            "revoke_error": self.revoke_error,
            "revoke_at": self.revoke_at,
        }

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> Lease:
        # Field by field rather than cls(**data): 100,000 of these run at start-up.
        # Mount, type, accessor and the internal field names repeat across thousands of
        # leases; one shared copy each saves ~350 bytes a lease.
        get = data.get
        return cls(
            lease_id=data["lease_id"],
            mount=sys.intern(data["mount"]),
            secret_type=sys.intern(data["secret_type"]),
            internal={sys.intern(name): value for name, value in data["internal"].items()},
            issue_time=data["issue_time"],
            expire_time=data["expire_time"],
            ttl=_shared_int(data["ttl"]),
            max_ttl=_shared_int(data["max_ttl"]),
            renewable=data["renewable"],
            state=_STATES[get("state", "active")],
            last_renewal=get("last_renewal"),
            holder_key=get("holder_key"),
            exclusive=get("exclusive", False),
            token_accessor=sys.intern(get("token_accessor", "")),
            revoke_attempts=get("revoke_attempts", 0),
            revoke_error=get("revoke_error", ""),
            revoke_at=get("revoke_at"),
        )

    def lookup_data(self, now: float) -> dict[str, Any]:
        return {
            "expire_time": rfc3339(self.expire_time),
            "id": self.lease_id,
            "issue_time": rfc3339(self.issue_time),
            "last_renewal": None if self.last_renewal is None else rfc3339(self.last_renewal),
            "path": self.path,
            "renewable": self.renewable,
            "ttl": max(0, int(self.expire_time - round(now))),
        }


class LeaseRestoreError(VaultError):
    """A stored lease cannot be read back at start: the server must not go on without it."""


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


class RevokeScheduler(Protocol):
    def schedule(self, lease: Lease) -> None: ...


@dataclass(slots=True)
class LeaseSettings:
    """Lease-wide knobs.

    A failed revocation is retried after base x 2^(n-1) seconds (n: failed attempts), at
    most `revoke_backoff_max`, jittered down by up to half, and never before a Retry-After
    the upstream asked for (up to that maximum). A failure no quick retry cures (a lost
    permission) is retried every `revoke_slow_interval`, with the same jitter. Past
    `max_revoke_attempts` the lease is listed as irrevocable; the retries go on.
    """

    default_lease_ttl: int
    max_lease_ttl: int
    revoke_backoff_base: float = 1.0
    revoke_backoff_max: float = 60.0
    revoke_slow_interval: float = 600.0
    max_revoke_attempts: int = 6
    force_revoke_timeout: float = 10.0
    # At most this many credential issues per path (one role) per interval; 0: no limit.
    role_issue_limit: int = 0
    role_issue_interval: float = 60.0
    # Most leases alive at once per role (request path) and per mount; 0: no limit.
    max_leases_per_role: int = 0
    max_leases_per_mount: int = 0


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
        self._storage = storage
        self._resolve = resolver
        self.settings = settings
        self._clock = clock
        self.metrics: MetricsSink = metrics or NullSink()
        self._leases: dict[str, Lease] = {}
        # Lease ids per holder; a tuple (48 bytes for one id) rather than a set (216):
        # a holder has one or two leases, and there are as many holders as leases.
        self._by_holder: dict[str, tuple[str, ...]] = {}
        self._per_path: dict[str, int] = defaultdict(int)
        self._per_mount: dict[str, int] = defaultdict(int)
        self._holder_locks: dict[str, asyncio.Lock] = {}
        self._lease_locks: dict[str, asyncio.Lock] = {}
        # The HTTP status of each lease's last failed revocation (in memory: after a
        # restart a revoke joining the schedule answers 502).
        self._revoke_status: dict[str, int] = {}
        self.scheduler: RevokeScheduler | None = None
        self.issue_limiter = IssueRateLimiter(
            settings.role_issue_limit, settings.role_issue_interval
        )
        # The restore at start (Vault's restore mode): the stored lease ids, sorted; the
        # ones from `_restore_next` on may not be in memory yet. Ids forgotten meanwhile are
        # kept in `_dropped`, so that a read of one from before its deletion is not revived.
        self._restore_ids: list[str] = []
        self._restore_next = 0
        self._dropped: set[str] = set()
        self._restored = asyncio.Event()
        self._restore_error: LeaseRestoreError | None = None
        self._restore_task: asyncio.Task[None] | None = None
        self.restore_seconds: float | None = None
        # Called once if the background restore fails, with the error (the server stops).
        self.on_restore_failed: list[Callable[[LeaseRestoreError], None]] = []

    # -- restoring at start -----------------------------------------------------------

    async def start_restore(self) -> None:
        """List the stored leases, restore the first now and the rest in the background.

        Restoring the first lease before serving turns a store whose values cannot be
        read (another seal key, damaged data) into a start-up error. Meanwhile requests
        naming one lease load it on demand, and those needing every lease wait (see
        `wait_restored`); the expiry worker is handed each lease as it is restored.
        """
        started = time.monotonic()
        # In key order: the log store reads cold (on-disk) values ahead in that order.
        ids = sorted(await _walk(self._storage, LEASE_PREFIX))
        self._restore_ids = ids
        if ids:
            await self._restore_key(ids[0])
            self._restore_next = 1
        if len(ids) <= 1:
            self._finish_restore(started)
            return
        logger.info("restoring leases in the background count=%d", len(ids))
        self._restore_task = asyncio.create_task(self._restore_rest(started), name="lease-restore")

    async def _restore_rest(self, started: float) -> None:
        ids = self._restore_ids
        reported = started
        try:
            for index in range(self._restore_next, len(ids)):
                self._restore_next = index
                await self._restore_key(ids[index])
                if index % _RESTORE_SLICE == 0:
                    await asyncio.sleep(0)  # let waiting requests run
                    if time.monotonic() - reported >= _RESTORE_REPORT_SECONDS:
                        reported = time.monotonic()
                        logger.info("restoring leases restored=%d count=%d", index, len(ids))
            self._restore_next = len(ids)
        except asyncio.CancelledError:
            self._restore_error = LeaseRestoreError(
                "the server stopped before every lease was restored"
            )
            self._restored.set()
            raise
        except Exception as exc:
            # Waiters must not wait forever, whatever went wrong.
            self._restore_error = (
                exc
                if isinstance(exc, LeaseRestoreError)
                else LeaseRestoreError(f"lease restore failed ({type(exc).__name__})")
            )
        if self._restore_error is not None:
            logger.error("lease restore failed: %s", self._restore_error.message)
            self._restored.set()
            for callback in self.on_restore_failed:
                callback(self._restore_error)
            return
        self._finish_restore(started)

    def _finish_restore(self, started: float) -> None:
        count = len(self._restore_ids)
        self._restore_ids = []
        self._restore_next = 0
        self._dropped.clear()
        self.restore_seconds = time.monotonic() - started
        self._restored.set()
        # Decrypting and parsing every lease left its buffers in the C heap's free list.
        return_freed_memory()
        logger.info(
            "leases restored count=%d active=%d seconds=%.2f",
            count,
            len(self._leases),
            self.restore_seconds,
        )

    async def _restore_key(self, lease_id: str) -> None:
        """Read one stored lease into memory, unless it is there already or was dropped."""
        try:
            raw = await self._storage.get(LEASE_PREFIX + lease_id)
            if raw is None or lease_id in self._leases or lease_id in self._dropped:
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
        self._remember(lease)
        if self.scheduler is not None:
            self.scheduler.schedule(lease)

    def is_restored(self) -> bool:
        """Whether every stored lease is in memory (the restore at start is over)."""
        return self._restored.is_set() and self._restore_error is None

    def restore_progress(self) -> tuple[int, int]:
        """Stored leases restored so far and in all, while the restore runs."""
        if self._restored.is_set():
            return len(self._leases), len(self._leases)
        return self._restore_next, len(self._restore_ids)

    async def wait_restored(self) -> None:
        """Wait until every stored lease is in memory; for operations over all leases."""
        if not self._restored.is_set():
            await self._restored.wait()
        if self._restore_error is not None:
            raise self._restore_error

    async def stop_restore(self) -> None:
        """Cancel a restore still running (the server is stopping)."""
        task, self._restore_task = self._restore_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _not_restored_yet(self, lease_id: str) -> bool:
        ids = self._restore_ids
        if not ids or lease_id in self._dropped:
            return False
        index = bisect.bisect_left(ids, lease_id, self._restore_next)
        return index < len(ids) and ids[index] == lease_id

    async def _find(self, lease_id: str) -> Lease | None:
        """The lease by id; during the restore, one not restored yet is read on demand."""
        lease = self._leases.get(lease_id)
        if lease is None and self._not_restored_yet(lease_id):
            await self._restore_key(lease_id)
            lease = self._leases.get(lease_id)
        return lease

    def _remember(self, lease: Lease) -> None:
        lease_id = lease.lease_id
        if lease_id not in self._leases:
            self._per_path[lease.path] += 1
            self._per_mount[lease.mount] += 1
        self._leases[lease_id] = lease
        if lease.holder_key:
            held = self._by_holder.get(lease.holder_key, ())
            if lease_id not in held:
                self._by_holder[lease.holder_key] = (*held, lease_id)

    def _forget(self, lease_id: str) -> None:
        if self._restore_ids:
            self._dropped.add(lease_id)
        lease = self._leases.pop(lease_id, None)
        self._lease_locks.pop(lease_id, None)
        self._revoke_status.pop(lease_id, None)
        if lease is not None:
            for counts, key in ((self._per_path, lease.path), (self._per_mount, lease.mount)):
                counts[key] -= 1
                if counts[key] <= 0:
                    del counts[key]
        if lease is not None and lease.holder_key:
            held = tuple(
                lid for lid in self._by_holder.get(lease.holder_key, ()) if lid != lease_id
            )
            if held:
                self._by_holder[lease.holder_key] = held
            else:
                self._by_holder.pop(lease.holder_key, None)

    async def _write(self, changes: Mapping[str, Lease | None]) -> None:
        """Persist lease changes as one storage batch, then apply them in memory."""
        items: dict[str, Any] = {
            LEASE_PREFIX + lease_id: None if lease is None else lease.to_storage()
            for lease_id, lease in changes.items()
        }
        await self._storage.put_many(items)
        for lease_id, lease in changes.items():
            if lease is None:
                self._forget(lease_id)
            else:
                self._remember(lease)
                if self.scheduler is not None:
                    self.scheduler.schedule(lease)

    def _lease_lock(self, lease_id: str) -> asyncio.Lock:
        return self._lease_locks.setdefault(lease_id, asyncio.Lock())

    # -- queries ------------------------------------------------------------------

    @property
    def clock(self) -> Callable[[], float]:
        """The clock lease times are read from (the expiry worker uses it too)."""
        return self._clock

    def get(self, lease_id: str) -> Lease | None:
        """The lease if it is in memory (during the restore, maybe not yet: see `_find`)."""
        return self._leases.get(lease_id)

    def all(self) -> Iterable[Lease]:
        """The leases in memory; every stored one only once `wait_restored` returned."""
        return self._leases.values()

    def active_count(self) -> int:
        return len(self._leases)

    def irrevocable(self) -> list[Lease]:
        """Irrevocable leases in memory; complete once `wait_restored` returned."""
        found = [le for le in self._leases.values() if le.state is LeaseState.IRREVOCABLE]
        return sorted(found, key=lambda le: (le.expire_time, le.lease_id))

    def list_keys(self, prefix: str) -> list[str]:
        """Direct children under `prefix` among all lease ids (Vault's LIST semantics).

        Complete once `wait_restored` returned.
        """
        prefix = prefix.strip("/")
        prefix = prefix + "/" if prefix else ""
        keys: set[str] = set()
        for lease_id in self._leases:
            if not lease_id.startswith(prefix):
                continue
            rest = lease_id[len(prefix) :]
            head, sep, _ = rest.partition("/")
            keys.add(head + sep)
        return sorted(keys)

    async def lookup(self, lease_id: str) -> Lease:
        lease = await self._find(lease_id)
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
    ) -> tuple[Lease, dict[str, Any]]:
        """Persist a pending lease, create the credential, then activate the lease."""
        # The holder's earlier leases and the lease counts must all be known.
        await self.wait_restored()
        self._check_lease_counts(mount, request_path)
        self.issue_limiter.acquire(request_path)
        max_ttl = _clamp(int(spec.max_ttl.total_seconds()), self.settings.max_lease_ttl)
        ttl = min(int(spec.ttl.total_seconds()) or self.settings.default_lease_ttl, max_ttl)
        holder = spec.holder_key and f"{mount}{spec.holder_key}"
        lock = self._holder_locks.setdefault(holder, asyncio.Lock()) if holder else None
        if lock is None:
            return await self._issue_locked(
                mount, request_path, spec, issue, ttl, max_ttl, holder, token_accessor
            )
        async with lock:
            return await self._issue_locked(
                mount, request_path, spec, issue, ttl, max_ttl, holder, token_accessor
            )

    def _check_lease_counts(self, mount: str, request_path: str) -> None:
        """Vault's lease-count quota: refuse a new lease past the role's or mount's limit."""
        for limit, count, name, scope in (
            (
                self.settings.max_leases_per_role,
                self._per_path.get(request_path, 0),
                "max_leases_per_role",
                request_path,
            ),
            (
                self.settings.max_leases_per_mount,
                self._per_mount.get(mount, 0),
                "max_leases_per_mount",
                mount,
            ),
        ):
            if limit > 0 and count >= limit:
                raise RateLimitedError(
                    f"lease count quota exceeded: {scope} already has {count} active leases "
                    f"and {name} is {limit}; revoke leases or wait for them to expire",
                    retry_after=self._next_expiry(scope),
                )

    def _next_expiry(self, scope: str) -> float:
        """Seconds until the earliest lease under `scope` ends (a hint for Retry-After)."""
        now = self._clock()
        prefix = scope if scope.endswith("/") else scope + "/"
        ends = [le.expire_time for lid, le in self._leases.items() if lid.startswith(prefix)]
        return max(1.0, min(ends, default=now + 60) - now)

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
        earlier = sorted(self._by_holder.get(holder, ())) if holder else []
        checked_out = [lid for lid in earlier if self._leases[lid].exclusive]
        if holder and earlier and (spec.exclusive or checked_out):
            current = self._leases[(checked_out or earlier)[0]]
            raise InvalidRequestError(
                f"the credential at {request_path} is checked out by lease {current.lease_id} "
                f"until {rfc3339(current.expire_time)} (exclusive mode); "
                "revoke that lease or wait for it to end"
            )
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
            exclusive=spec.exclusive,
            token_accessor=token_accessor,
        )
        await self._write({lease.lease_id: lease})
        try:
            issued = await issue()
        except BaseException as exc:
            await self._abandon(lease, exc)
            raise
        now = self._clock()
        # issue() may have returned what only creating the credential told it (the id
        # of a client secret or pass), for revoke to use.
        internal = spec.internal if issued.internal is None else issued.internal
        active = replace(
            lease,
            state=LeaseState.ACTIVE,
            issue_time=now,
            expire_time=now + ttl,
            internal=dict(internal),
        )
        changes: dict[str, Lease | None] = {active.lease_id: active}
        async with contextlib.AsyncExitStack() as held:
            # Every change to a lease holds its lock: a renew or queued revoke of an
            # earlier lease running now must not write it back after it was superseded.
            for old in earlier:
                await held.enter_async_context(self._lease_lock(old))
            # The new credential replaced the holder's earlier ones: their leases end
            # here, without a backend call, since nothing of theirs is left to revoke
            # (irrevocable ones too: a retry of theirs would kill the new credential).
            superseded = [self._leases[old] for old in earlier if old in self._leases]
            changes.update({ended.lease_id: None for ended in superseded})
            await self._write_activation(lease, changes)
        for ended in superseded:
            self._count_revocation(ended, RevokeResult.SUPERSEDED)
            log_lease_event(
                logging.INFO, "superseded", "lease superseded", ended, by=active.lease_id
            )
        self.metrics.incr(CREDS_ISSUED, {"mount": active.mount, "role": active.role})
        log_lease_event(logging.INFO, "issued", "lease issued", active, ttl=ttl)
        return active, issued.data

    async def _write_activation(self, lease: Lease, changes: dict[str, Lease | None]) -> None:
        try:
            await self._write(changes)
        except BaseException:
            # The credential exists but its activation was not stored: the pending record
            # on disk already makes a restart revoke it; revoke it now in this process too.
            self._remember(replace(lease, revoke_at=self._clock()))
            if self.scheduler is not None:
                self.scheduler.schedule(self._leases[lease.lease_id])
            log_lease_event(
                logging.ERROR, "activation_failed", "lease activation not stored, revoking", lease
            )
            raise

    async def _abandon(self, lease: Lease, exc: BaseException) -> None:
        """Undo a pending lease whose issue failed; revoke it if the credential may exist."""
        definite = isinstance(exc, VaultError) and not (
            isinstance(exc, UpstreamError) and exc.may_have_applied
        )
        if definite:
            await self._write({lease.lease_id: None})
            log_lease_event(
                logging.INFO,
                "issue_failed",
                "lease dropped, issue failed",
                lease,
                error=_safe_error(exc),
            )
            return
        # Unknown outcome (timeout, 5xx, cancellation): assume the credential exists.
        await self._write(
            {lease.lease_id: replace(lease, state=LeaseState.ACTIVE, revoke_at=self._clock())}
        )
        log_lease_event(
            logging.WARNING,
            "issue_unknown",
            "issue outcome unknown, revoking",
            lease,
            error=_safe_error(exc),
        )

    # -- renew ----------------------------------------------------------------------

    async def renew(self, lease_id: str, increment: int) -> tuple[Lease, list[str]]:
        """Vault's renew: TTL from now, capped at issue time + max TTL with a warning."""
        await self._find(lease_id)
        async with self._lease_lock(lease_id):
            lease = self._leases.get(lease_id)
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
            backend_ttl, backend_max = lease.ttl, lease.max_ttl
            resolved = self._resolve(lease.mount, lease.secret_type)
            if resolved is not None and resolved[0].renew is not None:
                secret_type, storage = resolved
                assert secret_type.renew is not None
                allowed = await secret_type.renew(
                    SecretRequest(storage=storage, internal=lease.internal, lease_path=lease.path)
                )
                if allowed is not None:
                    backend_ttl = (
                        int(allowed.ttl.total_seconds()) or self.settings.default_lease_ttl
                    )
                    backend_max = min(
                        _clamp(int(allowed.max_ttl.total_seconds()), self.settings.max_lease_ttl),
                        lease.max_ttl,
                    )
            elif resolved is not None:
                raise InvalidRequestError("lease is not renewable")
            ttl = increment if increment > 0 else backend_ttl
            limit = int(lease.issue_time) + backend_max - int(now)
            warnings: list[str] = []
            if limit <= 0:
                raise InvalidRequestError(
                    "failed to renew entry: resp: (*logical.Response)(nil) err: "
                    "past the max TTL, cannot renew"
                )
            if ttl > limit:
                warnings.append(
                    f'TTL of "{format_duration(ttl)}" exceeded the effective max_ttl of '
                    f'"{format_duration(limit)}"; TTL value is capped accordingly'
                )
                ttl = limit
            renewed = replace(lease, expire_time=now + ttl, last_renewal=now)
            await self._write({lease_id: renewed})
            self.metrics.incr(LEASE_RENEWALS, {"mount": lease.mount, "role": lease.role})
            log_lease_event(logging.INFO, "renewed", "lease renewed", renewed, ttl=ttl)
            return renewed, warnings

    # -- revoke ---------------------------------------------------------------------

    async def revoke(self, lease_id: str, *, sync: bool) -> None:
        """Revoke now (sync) or hand it to the expiry worker; unknown ids are fine."""
        lease = await self._find(lease_id)
        if lease is None:
            return
        if not sync:
            await self.queue_revoke(lease)
            return
        await self.revoke_now(lease_id, raise_errors=True)

    async def queue_revoke(self, lease: Lease) -> None:
        async with self._lease_lock(lease.lease_id):
            current = self._leases.get(lease.lease_id)
            if current is None:
                return  # revoked or superseded meanwhile: nothing to queue
            await self._queue_revoke_locked(current)

    async def _queue_revoke_locked(self, lease: Lease) -> None:
        if lease.revoke_at is not None:
            # Queued already, or a failed revocation waiting for its next attempt: this
            # revoke joins that attempt rather than spending one (see revoke_now).
            return
        now = self._clock()
        queued = replace(lease, expire_time=min(lease.expire_time, now), revoke_at=now)
        await self._write({lease.lease_id: queued})

    async def revoke_by_token(self, accessor: str) -> int:
        """Queue the revocation of every lease obtained with a token (it was revoked)."""
        if not accessor:
            return 0
        await self.wait_restored()
        owned = [lease for lease in self._leases.values() if lease.token_accessor == accessor]
        for lease in owned:
            await self.queue_revoke(lease)
        if owned:
            logger.info("leases of revoked token queued for revocation count=%d", len(owned))
        return len(owned)

    async def matching(self, prefix: str) -> list[str]:
        """Lease ids under a prefix; a prefix that is itself a lease id matches just it."""
        await self.wait_restored()
        prefix = prefix.rstrip("/")
        if prefix in self._leases:
            return [prefix]
        base = prefix + "/"
        return sorted(lid for lid in self._leases if lid.startswith(base))

    async def revoke_prefix(self, prefix: str, *, sync: bool) -> None:
        ids = await self.matching(prefix)
        if not sync:
            for lease_id in ids:
                lease = self._leases.get(lease_id)
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
        for lease_id in ids:
            lease = self._leases.get(lease_id)
            if lease is None:
                continue
            try:
                await asyncio.wait_for(
                    self._backend_revoke(lease), self.settings.force_revoke_timeout
                )
            except Exception as exc:  # noqa: BLE001 - force means: errors do not stop us
                log_lease_event(
                    logging.WARNING,
                    "force_revoke_error",
                    "force revoke ignored a backend error",
                    lease,
                    error=_safe_error(exc),
                )
            async with self._lease_lock(lease_id):
                if lease_id not in self._leases:
                    continue  # revoked meanwhile, and counted as such
                await self._write({lease_id: None})
            self._count_revocation(lease, RevokeResult.FORCED)
            log_lease_event(logging.WARNING, "force_revoked", "lease force-revoked", lease)
        return len(ids)

    async def _backend_revoke(self, lease: Lease) -> None:
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
        lease = self._leases.get(lease_id)
        if lease is None:
            return True
        # A holder's revoke and a new issue for the same holder must not interleave: a
        # late revoke would reset the password the new lease just handed out.
        holder_lock = (
            self._holder_locks.setdefault(lease.holder_key, asyncio.Lock())
            if lease.holder_key
            else None
        )
        if holder_lock is None:
            return await self._revoke_locked(lease_id, raise_errors, scheduled)
        async with holder_lock:
            return await self._revoke_locked(lease_id, raise_errors, scheduled)

    async def _revoke_locked(self, lease_id: str, raise_errors: bool, scheduled: bool) -> bool:
        async with self._lease_lock(lease_id):
            lease = self._leases.get(lease_id)
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
                await self._backend_revoke(lease)
            except Exception as exc:
                await self._revoke_failed(lease, exc)
                if raise_errors:
                    if isinstance(exc, VaultError):
                        raise
                    raise VaultError(f"failed to revoke lease {lease_id}") from exc
                return False
            await self._write({lease_id: None})
            self._count_revocation(lease, RevokeResult.OK)
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
            self._revoke_status.get(lease.lease_id, UpstreamError.status),
        )

    def _count_revocation(self, lease: Lease, result: RevokeResult) -> None:
        self.metrics.incr(REVOCATIONS, {"mount": lease.mount, "result": result.value})

    async def _revoke_failed(self, lease: Lease, exc: Exception) -> None:
        attempts = lease.revoke_attempts + 1
        reason = _safe_error(exc)
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
        await self._write({lease.lease_id: failed})
        self._revoke_status[lease.lease_id] = (
            exc.status if isinstance(exc, VaultError) else VaultError.status
        )
        self._count_revocation(lease, result)

    async def tidy(self, mounts: Iterable[str]) -> int:
        """Revoke leases of mounts that no longer exist; returns how many were found."""
        known = set(mounts)
        await self.wait_restored()
        stale = [le for le in self._leases.values() if le.mount not in known]
        for lease in stale:
            await self.queue_revoke(lease)
        return len(stale)


def log_lease_event(
    level: int, event: str, message: str, lease: Lease, **fields: str | int | float
) -> None:
    """One log line per lease event, with the fields every such line carries.

    Fields go through `extra=`: the JSON format shows them as keys, the standard format
    appends them as key=value (mount/logging_setup.py). Only identifiers and outcomes:
    the lease id, its role and mount, and the accessor (never the token) of its owner.
    """
    logger.log(
        level,
        message,
        extra={
            "event": event,
            "lease_id": lease.lease_id,
            "role": lease.role,
            "mount": lease.mount,
            "accessor": lease.token_accessor,
            **fields,
        },
    )


def _clamp(value: int, fallback: int) -> int:
    """0 means "use the default"; anything above the system maximum is capped to it."""
    if value <= 0:
        return fallback
    return min(value, fallback) if fallback > 0 else value


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


def _safe_error(exc: BaseException) -> str:
    """A loggable reason: our typed errors carry safe messages; others only their type."""
    if isinstance(exc, VaultError):
        return exc.message or type(exc).__name__
    return type(exc).__name__


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
