"""A fake clock, a recording secret type and a lease manager over the in-memory store.

Time moves only when a test says so (`FakeClock.advance`); the expiry worker's waits are
the clock's, so a test sees when the worker means to wake and wakes it by moving time.
Nothing here sleeps in real time: `settle` only lets the event loop run.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from mount.leases.manager import LeaseManager
from mount.leases.record import LEASE_PREFIX, Lease
from mount.leases.settings import LeaseSettings
from mount.sdk import Issued, SecretRequest, SecretSpec, SecretType
from mount.sdk.logical import IssueFn, SecretTTL, Storage
from mount.sdk.telemetry import NullSink
from mount.storage.memory import MemoryStore

MOUNT = "rec/"
START = 1_000_000.0


class FakeClock:
    """Seconds since the epoch that advance only when told, and waits that they end."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    @property
    def deadlines(self) -> list[float]:
        """When the waits in progress end, on this clock (soonest first)."""
        return sorted(deadline for deadline, _ in self._sleepers)

    def advance(self, seconds: float) -> None:
        self.set(self.now + seconds)

    def set(self, now: float) -> None:
        self.now = now
        for deadline, woken in self._sleepers:
            if deadline <= now and not woken.done():
                woken.set_result(None)

    async def wait(self, event: asyncio.Event, timeout: float | None) -> None:
        """The expiry worker's wait: until `event` is set or `timeout` of this clock."""
        if timeout is None:
            await event.wait()
            return
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (self.now + timeout, woken)
        self._sleepers.append(entry)
        if timeout <= 0:
            woken.set_result(None)
        event_set = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({woken, event_set}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._sleepers.remove(entry)
            event_set.cancel()


async def settle(condition: Callable[[], bool] | None = None, rounds: int = 500) -> None:
    """Let the event loop run until `condition` holds (or, without one, for `rounds`)."""
    for _ in range(rounds):
        if condition is not None and condition():
            return
        await asyncio.sleep(0)
    if condition is not None:
        raise AssertionError(f"condition not met within {rounds} event loop rounds")


class RecordingSink(NullSink):
    """Counts every counter the lease manager increments, by name and labels."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def incr(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        super().incr(name, labels, value)
        self.counts[(name, tuple(sorted((labels or {}).items())))] += value

    def count(self, name: str, **labels: str) -> float:
        return self.counts[(name, tuple(sorted(labels.items())))]


@dataclass
class RecordingSecret:
    """A secret type that records what it was asked to do; no Entra anywhere.

    Revocations raise the queued `revoke_failures` in turn, then succeed. `renew_ttl` is
    what the backend allows on renewal (None: the lease's own TTLs).
    """

    issued: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    revoke_calls: int = 0
    revoke_failures: list[Exception] = field(default_factory=list)
    renew_ttl: SecretTTL | None = None

    def secret_type(self) -> SecretType:
        return SecretType("recording", revoke=self.revoke, renew=self.renew)

    def issue_fn(self, credential: str) -> IssueFn:
        async def issue() -> Issued:
            self.issued.append(credential)
            # What only creating the credential tells: its id, for revoke.
            return Issued({"credential": credential}, {"credential": credential, "id": 7})

        return issue

    async def revoke(self, req: SecretRequest) -> None:
        self.revoke_calls += 1
        if self.revoke_failures:
            raise self.revoke_failures.pop(0)
        assert req.internal["id"] == 7, "revoke got the internal data issue returned"
        self.revoked.append(str(req.internal["credential"]))

    async def renew(self, req: SecretRequest) -> SecretTTL | None:
        return self.renew_ttl


def settings(**changes: float) -> LeaseSettings:
    knobs = LeaseSettings(
        default_lease_ttl=3600,
        max_lease_ttl=86400,
        revoke_backoff_base=1.0,
        revoke_backoff_max=60.0,
        revoke_slow_interval=600.0,
        max_revoke_attempts=6,
    )
    for name, value in changes.items():
        setattr(knobs, name, value)
    return knobs


class Leases:
    """A lease manager over a MemoryStore, a fake clock and one recording secret type."""

    def __init__(
        self,
        knobs: LeaseSettings | None = None,
        *,
        store: MemoryStore | None = None,
        clock: FakeClock | None = None,
        secret: RecordingSecret | None = None,
    ) -> None:
        self.store = store or MemoryStore()
        self.clock = clock or FakeClock()
        self.secret = secret or RecordingSecret()
        self.metrics = RecordingSink()
        logical = self.store.view("logical/")
        kind = self.secret.secret_type()

        def resolve(mount: str, secret_type: str) -> tuple[SecretType, Storage] | None:
            return (kind, logical) if mount == MOUNT else None

        self.manager = LeaseManager(
            self.store.view("sys/"),
            resolve,
            knobs or settings(),
            clock=self.clock,
            metrics=self.metrics,
        )

    async def issue(
        self,
        credential: str = "cred-1",
        *,
        role: str = "a",
        holder: str | None = None,
        ttl: int = 60,
        max_ttl: int = 120,
    ) -> Lease:
        if not self.manager.is_restored():
            await self.manager.start_restore()
        spec = SecretSpec(
            type="recording",
            internal={"credential": credential},
            ttl=timedelta(seconds=ttl),
            max_ttl=timedelta(seconds=max_ttl),
            holder_key=holder,
        )
        lease, data = await self.manager.issue(
            mount=MOUNT,
            request_path=f"{MOUNT}creds/{role}",
            spec=spec,
            issue=self.secret.issue_fn(credential),
            token_accessor="accessor-1",
        )
        assert data == {"credential": credential}
        return lease

    async def stored(self, lease_id: str) -> dict[str, object] | None:
        """The lease's record in storage, as a restart would read it."""
        found: dict[str, object] | None = await self.store.get("sys/" + LEASE_PREFIX + lease_id)
        return found
