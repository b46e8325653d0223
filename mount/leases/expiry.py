"""The expiry worker: revokes leases when they are due, and retries failed revocations
when their next attempt is due (the schedule is the lease manager's: `Lease.due`)."""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Awaitable, Callable

from mount.leases.events import log_lease_event
from mount.leases.manager import LeaseManager
from mount.leases.record import Lease, LeaseState
from mount.sdk.telemetry import EXPIRY_LAG

__all__ = ["ExpiryWorker", "WaitFn", "wait_for_event"]

logger = logging.getLogger(__name__)

# Waits until the event is set or `timeout` seconds of the worker's clock passed (None:
# until the event). Tests with a fake clock pass one that their clock wakes.
WaitFn = Callable[[asyncio.Event, float | None], Awaitable[None]]


async def wait_for_event(event: asyncio.Event, timeout: float | None) -> None:
    """The real-time wait: until `event` is set or `timeout` seconds have passed."""
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass


class ExpiryWorker:
    """A timer heap over lease due times; due leases are revoked concurrently.

    Heap entries may be stale (a lease renewed or gone since): each pop re-checks the
    lease's current due time, so scheduling is just a push, O(log n).
    """

    def __init__(
        self,
        leases: LeaseManager,
        *,
        concurrency: int = 16,
        clock: Callable[[], float] | None = None,
        wait: WaitFn = wait_for_event,
        stop_grace: float = 5.0,
        gate: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.stop_grace = stop_grace
        # Awaited before each round of revocations: a sealed server revokes nothing.
        self._gate = gate
        self._leases = leases
        # The lease manager's clock by default: due times are read from it, and `wait`
        # must measure its timeout on the same clock.
        self._clock = clock or leases.clock
        self._wait = wait
        self._heap: list[tuple[float, str]] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        leases.scheduler = self

    def schedule(self, lease: Lease) -> None:
        due = lease.due
        if due is None:
            return
        heapq.heappush(self._heap, (due, lease.lease_id))
        if self._heap[0][1] == lease.lease_id:
            self._wake.set()

    def start(self) -> None:
        for lease in self._leases.all():
            self.schedule(lease)
        self._task = asyncio.create_task(self._run(), name="lease-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        running = list(self._running.values())
        if running:
            # Let revocations already talking to Entra finish (a cancelled one would be
            # redone at next start anyway, but finishing spares a second reset).
            await asyncio.wait(running, timeout=self.stop_grace)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            if self._gate is not None:
                await self._gate()
            self._wake.clear()
            now = self._clock()
            while self._heap and self._heap[0][0] <= now:
                due, lease_id = heapq.heappop(self._heap)
                lease = self._leases.get(lease_id)
                if lease is None or lease.due is None or lease.due > due:
                    continue  # stale entry: renewed, revoked or rescheduled since
                if lease_id not in self._running:
                    self._running[lease_id] = asyncio.create_task(self._revoke(lease_id))
            timeout = None if not self._heap else max(0.0, self._heap[0][0] - self._clock())
            await self._wait(self._wake, timeout)

    async def _revoke(self, lease_id: str) -> None:
        try:
            async with self._slots:
                logger.debug("lease due, revoking lease_id=%s", lease_id)
                self._note_expiry(lease_id)
                await self._leases.revoke_now(lease_id, scheduled=True)
        except Exception:
            logger.exception("expiry worker failed lease_id=%s", lease_id)
        finally:
            self._running.pop(lease_id, None)

    def _note_expiry(self, lease_id: str) -> None:
        """Log and time a lease whose TTL ran out (not one queued or retried)."""
        lease = self._leases.get(lease_id)
        if lease is None or lease.state is not LeaseState.ACTIVE or lease.revoke_at is not None:
            return
        lag = max(0.0, self._clock() - lease.expire_time)
        self._leases.metrics.observe(EXPIRY_LAG, {"mount": lease.mount}, lag)
        log_lease_event(logging.INFO, "expired", "lease expired", lease, lag=round(lag, 3))
