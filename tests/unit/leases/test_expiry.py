"""The expiry worker (mount/leases/expiry.py) on a fake clock: it waits for exactly the
next due time, revokes then and not before, and retries failed revocations on their
schedule (backoff capped, Retry-After honoured, slow for failures no retry cures)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mount.leases.expiry import ExpiryWorker
from mount.leases.record import LeaseState
from mount.sdk.errors import UpstreamError
from mount.sdk.telemetry import REVOCATIONS
from tests.unit.leases.fakes import MOUNT, START, Leases, settings, settle

CAP, SLOW = 8.0, 600.0


def throttled(retry_after: float | None = None) -> UpstreamError:
    return UpstreamError("upstream throttled (503)", retryable=True, retry_after=retry_after)


def denied() -> UpstreamError:
    return UpstreamError("upstream denied the reset (403)", retryable=False)


@pytest.fixture
async def leases() -> AsyncIterator[Leases]:
    found = Leases(settings(revoke_backoff_max=CAP, revoke_slow_interval=SLOW))
    await found.manager.start_restore()
    worker = ExpiryWorker(found.manager, wait=found.clock.wait, stop_grace=0)
    worker.start()
    try:
        yield found
    finally:
        await worker.stop()


async def next_wake(leases: Leases) -> float:
    """When the worker is waiting to wake next (once it waits on the fake clock)."""
    await settle(lambda: bool(leases.clock.deadlines))
    return leases.clock.deadlines[0]


async def test_a_lease_is_revoked_when_its_ttl_ends_not_before(leases: Leases):
    lease = await leases.issue(ttl=60)
    assert await next_wake(leases) == START + 60
    leases.clock.set(START + 59.9)
    await settle()
    assert leases.secret.revoke_calls == 0 and leases.manager.get(lease.lease_id) is not None
    leases.clock.set(START + 60)
    await settle(lambda: leases.manager.get(lease.lease_id) is None)
    assert leases.secret.revoked == ["cred-1"]
    assert await leases.stored(lease.lease_id) is None
    assert leases.metrics.count(REVOCATIONS, mount=MOUNT, result="ok") == 1
    assert leases.clock.deadlines == []  # nothing left to wait for


async def test_a_renewed_lease_is_revoked_at_its_new_end(leases: Leases):
    lease = await leases.issue(ttl=60, max_ttl=600)
    leases.clock.set(START + 30)
    await leases.manager.renew(lease.lease_id, 60)
    assert await next_wake(leases) == START + 60  # the old end: found stale, then skipped
    leases.clock.set(START + 60)
    await settle(lambda: leases.clock.deadlines == [START + 90])
    assert leases.secret.revoke_calls == 0
    leases.clock.set(START + 90)
    await settle(lambda: leases.secret.revoked == ["cred-1"])


async def test_the_soonest_lease_wakes_the_worker_early(leases: Leases):
    late = await leases.issue("cred-1", ttl=600, max_ttl=600)
    assert await next_wake(leases) == START + 600
    soon = await leases.issue("cred-2", role="b", ttl=10)
    await settle(lambda: leases.clock.deadlines == [START + 10])
    leases.clock.set(START + 10)
    await settle(lambda: leases.secret.revoked == ["cred-2"])
    assert leases.manager.get(soon.lease_id) is None
    assert leases.manager.get(late.lease_id) is not None
    assert await next_wake(leases) == START + 600


async def test_a_queued_revoke_is_made_at_once(leases: Leases):
    lease = await leases.issue(ttl=600, max_ttl=600)
    await next_wake(leases)
    await leases.manager.revoke(lease.lease_id, sync=False)
    await settle(lambda: leases.secret.revoked == ["cred-1"])
    assert leases.clock.now == START  # no time had to pass


async def test_failed_revocations_back_off_up_to_the_cap_then_succeed(leases: Leases):
    lease = await leases.issue(ttl=60)
    leases.secret.revoke_failures = [throttled() for _ in range(8)]
    due = START + 60
    waits = []
    for attempt in range(1, 9):
        leases.clock.set(due)
        await settle(lambda n=attempt: leases.secret.revoke_calls == n)
        due = await next_wake(leases)
        waits.append(due - leases.clock.now)
        current = leases.manager.get(lease.lease_id)
        assert current is not None and current.revoke_attempts == attempt
        assert current.revoke_at == pytest.approx(due)  # the worker waits for exactly it
    for attempt, wait in enumerate(waits, start=1):
        ceiling = min(2.0 ** (attempt - 1), CAP)
        assert ceiling / 2 <= wait <= ceiling, (attempt, wait)
    # Past max_revoke_attempts (6) it shows as irrevocable, and is still retried.
    parked = leases.manager.get(lease.lease_id)
    assert parked is not None and parked.state is LeaseState.IRREVOCABLE
    leases.clock.set(due)
    await settle(lambda: leases.secret.revoked == ["cred-1"])
    assert leases.manager.get(lease.lease_id) is None and leases.clock.deadlines == []
    assert leases.metrics.count(REVOCATIONS, mount=MOUNT, result="retried") == 7
    assert leases.metrics.count(REVOCATIONS, mount=MOUNT, result="irrevocable") == 1


@pytest.mark.parametrize(("asked", "expected"), [(5.0, 5.0), (120.0, CAP)])
async def test_retry_after_is_honoured_up_to_the_cap(leases: Leases, asked: float, expected: float):
    lease = await leases.issue(ttl=60)
    leases.secret.revoke_failures = [throttled(retry_after=asked)]
    leases.clock.set(START + 60)
    await settle(lambda: leases.secret.revoke_calls == 1)
    assert await next_wake(leases) == START + 60 + expected
    leases.clock.set(START + 60 + expected - 0.1)
    await settle()
    assert leases.secret.revoke_calls == 1
    leases.clock.set(START + 60 + expected)
    await settle(lambda: leases.manager.get(lease.lease_id) is None)
    assert leases.secret.revoked == ["cred-1"]


async def test_a_failure_no_retry_cures_is_irrevocable_at_once_and_retried_slowly(
    leases: Leases,
):
    lease = await leases.issue(ttl=60)
    leases.secret.revoke_failures = [denied(), denied()]
    leases.clock.set(START + 60)
    for attempt in (1, 2):
        await settle(lambda n=attempt: leases.secret.revoke_calls == n)
        current = leases.manager.get(lease.lease_id)
        assert current is not None and current.state is LeaseState.IRREVOCABLE
        assert current.revoke_error == (
            "not retryable, retried every 10m: upstream denied the reset (403)"
        )
        wake = await next_wake(leases)
        assert SLOW / 2 <= wake - leases.clock.now <= SLOW
        leases.clock.set(wake)
    # The permission is back: the next slow retry ends the lease.
    await settle(lambda: leases.manager.get(lease.lease_id) is None)
    assert leases.secret.revoke_calls == 3 and leases.secret.revoked == ["cred-1"]
