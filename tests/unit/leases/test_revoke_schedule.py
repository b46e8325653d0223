"""The schedule of failed revocations (mount/leases/manager.py), driven by a fake clock.

Issue 13, point 21: a retryable failure is retried after about a second, doubling up to
a cap (honouring the upstream's Retry-After), forever; past the attempt count the lease
also shows as irrevocable; a failure no quick retry cures is retried every slow
interval; a client's revoke meanwhile joins the scheduled attempt; a restart keeps the
schedule. Each "scheduled attempt" here is what the expiry worker does when the lease
is due: `revoke_now(lease_id, scheduled=True)` with the clock at its due time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from mount.leases.manager import LeaseManager
from mount.leases.record import LEASE_PREFIX, Lease, LeaseState
from mount.leases.revocation import RevocationPendingError
from mount.leases.settings import LeaseSettings
from mount.sdk import Issued, SecretRequest, SecretSpec, SecretType, UnavailableError, UpstreamError
from mount.sdk.logical import Storage
from mount.storage.store import MemoryStore

MOUNT = "noop/"
BASE, CAP, SLOW, ATTEMPTS = 1.0, 60.0, 600.0, 6
ACCESSOR = "accessor-of-the-token-that-read-it"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Upstream:
    """The engine's revoke: raises the queued failures in turn, then succeeds."""

    failures: list[Exception] = field(default_factory=list)
    calls: int = 0
    revoked: list[str] = field(default_factory=list)

    async def revoke(self, req: SecretRequest) -> None:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        self.revoked.append(str(req.internal["credential"]))


def throttled(retry_after: float | None = None) -> UpstreamError:
    return UpstreamError("upstream throttled (503)", retryable=True, retry_after=retry_after)


def denied() -> UpstreamError:
    return UpstreamError("upstream denied the reset (403)", retryable=False)


class Harness:
    def __init__(self, store: MemoryStore | None = None, clock: Clock | None = None) -> None:
        self.store = store or MemoryStore()
        self.clock = clock or Clock()
        self.upstream = Upstream()
        storage = self.store.view("logical/")
        secret = SecretType("noop", revoke=self.upstream.revoke)

        def resolve(mount: str, kind: str) -> tuple[SecretType, Storage] | None:
            return (secret, storage) if mount == MOUNT else None

        self.leases = LeaseManager(
            self.store.view("sys/"),
            resolve,
            LeaseSettings(
                default_lease_ttl=3600,
                max_lease_ttl=86400,
                revoke_backoff_base=BASE,
                revoke_backoff_max=CAP,
                revoke_slow_interval=SLOW,
                max_revoke_attempts=ATTEMPTS,
            ),
            clock=self.clock,
        )

    async def issue(self, credential: str = "cred-1", holder: str | None = None) -> str:
        if not self.leases.is_restored():
            await self.leases.start_restore()

        async def create() -> Issued:
            return Issued({"credential": credential})

        spec = SecretSpec(
            type="noop",
            internal={"credential": credential},
            ttl=timedelta(hours=1),
            max_ttl=timedelta(hours=2),
            holder_key=holder,
        )
        lease, _ = await self.leases.issue(
            mount=MOUNT,
            request_path="noop/creds/a",
            spec=spec,
            issue=create,
            token_accessor=ACCESSOR,
        )
        return lease.lease_id

    def lease(self, lease_id: str) -> Lease:
        found = self.leases.get(lease_id)
        assert found is not None, f"{lease_id} is gone"
        return found

    def wait(self, lease_id: str) -> float:
        """Seconds from now until the lease's next scheduled attempt."""
        due = self.lease(lease_id).due
        assert due is not None, "the lease is not scheduled"
        return due - self.clock.now

    async def scheduled_attempt(self, lease_id: str) -> bool:
        """Advance to the lease's due time and make the expiry worker's attempt."""
        due = self.lease(lease_id).due
        assert due is not None
        self.clock.now = due
        return await self.leases.revoke_now(lease_id, scheduled=True)


async def test_retryable_failures_back_off_from_a_second_to_the_cap_and_never_stop():
    h = Harness()
    lease_id = await h.issue()
    h.upstream.failures = [throttled() for _ in range(40)]
    with pytest.raises(UpstreamError):
        await h.leases.revoke(lease_id, sync=True)
    waits = [h.wait(lease_id)]
    for _ in range(39):
        assert await h.scheduled_attempt(lease_id) is False
        waits.append(h.wait(lease_id))
    for attempt, wait in enumerate(waits, start=1):
        ceiling = min(BASE * 2 ** (attempt - 1), CAP)
        assert ceiling / 2 <= wait <= ceiling, (attempt, wait)
    assert waits[0] <= 1.0 and max(waits) <= CAP
    lease = h.lease(lease_id)
    assert lease.revoke_attempts == 40 and h.upstream.calls == 40
    # Past the attempt count it shows as irrevocable, still scheduled.
    assert lease.state is LeaseState.IRREVOCABLE and lease.due is not None
    assert h.leases.irrevocable() == [lease]
    assert lease.revoke_error == "failed 40 times, retrying: upstream throttled (503)"
    # Entra answers again: the next scheduled attempt ends it, within the cap.
    assert await h.scheduled_attempt(lease_id) is True
    assert h.leases.get(lease_id) is None and h.upstream.revoked == ["cred-1"]
    assert await h.store.get("sys/" + LEASE_PREFIX + lease_id) is None


async def test_the_lease_shows_as_irrevocable_only_past_the_attempt_count():
    h = Harness()
    lease_id = await h.issue()
    h.upstream.failures = [throttled() for _ in range(ATTEMPTS)]
    with pytest.raises(UpstreamError):
        await h.leases.revoke(lease_id, sync=True)
    for attempt in range(2, ATTEMPTS + 1):
        assert h.lease(lease_id).state is LeaseState.ACTIVE, attempt
        await h.scheduled_attempt(lease_id)
    assert h.lease(lease_id).state is LeaseState.IRREVOCABLE
    assert await h.scheduled_attempt(lease_id) is True


@pytest.mark.parametrize(("asked", "expected"), [(30.0, 30.0), (120.0, CAP)])
async def test_retry_after_is_honoured_up_to_the_cap(asked: float, expected: float):
    h = Harness()
    lease_id = await h.issue()
    h.upstream.failures = [throttled(retry_after=asked)]
    with pytest.raises(UpstreamError):
        await h.leases.revoke(lease_id, sync=True)
    assert h.wait(lease_id) == pytest.approx(expected)


async def test_a_client_revoke_during_the_backoff_joins_the_scheduled_attempt():
    h = Harness()
    lease_id = await h.issue()
    h.upstream.failures = [throttled(retry_after=120), throttled()]
    with pytest.raises(UpstreamError):
        await h.leases.revoke(lease_id, sync=True)
    scheduled = h.lease(lease_id).revoke_at
    h.clock.now += 10
    for _ in range(6):
        with pytest.raises(RevocationPendingError) as joined:
            await h.leases.revoke(lease_id, sync=True)
        await h.leases.revoke(lease_id, sync=False)
        await h.leases.revoke_prefix("noop/creds/a", sync=False)
        assert await h.leases.revoke_by_token(ACCESSOR) == 1
    # No upstream call, no attempt spent, the schedule unchanged.
    assert h.upstream.calls == 1
    lease = h.lease(lease_id)
    assert lease.revoke_attempts == 1 and lease.revoke_at == scheduled
    assert lease.state is LeaseState.ACTIVE
    error = joined.value
    assert error.status == 502
    assert error.message == (
        f"revoking lease {lease_id} failed (1 attempt) and is retried automatically in 50s; "
        "this request started no other attempt. Last error: upstream throttled (503)"
    )
    with pytest.raises(RevocationPendingError):
        await h.leases.revoke_prefix("noop/creds/a", sync=True)
    assert h.upstream.calls == 1
    # Once the attempt is due, a client's revoke makes it (and it counts as that one).
    h.clock.now = scheduled
    with pytest.raises(UpstreamError):
        await h.leases.revoke(lease_id, sync=True)
    assert h.upstream.calls == 2 and h.lease(lease_id).revoke_attempts == 2
    # The expiry worker's task for the same due time finds it rescheduled: no call.
    assert await h.leases.revoke_now(lease_id, scheduled=True) is False
    assert h.upstream.calls == 2


async def test_a_joined_revoke_answers_with_the_last_failures_status():
    h = Harness()
    lease_id = await h.issue()
    h.upstream.failures = [UnavailableError("the Entra connection is not configured")]
    with pytest.raises(UnavailableError):
        await h.leases.revoke(lease_id, sync=True)
    with pytest.raises(RevocationPendingError) as joined:
        await h.leases.revoke(lease_id, sync=True)
    assert joined.value.status == 503


async def test_failures_no_quick_retry_cures_show_at_once_and_retry_slowly():
    h = Harness()
    lease_id = await h.issue()
    h.upstream.failures = [denied() for _ in range(5)]
    await h.leases.revoke(lease_id, sync=False)
    await h.scheduled_attempt(lease_id)
    lease = h.lease(lease_id)
    assert lease.state is LeaseState.IRREVOCABLE and lease.revoke_attempts == 1
    assert lease.revoke_error == "not retryable, retried every 10m: upstream denied the reset (403)"
    for _ in range(4):
        assert SLOW / 2 <= h.wait(lease_id) <= SLOW
        await h.scheduled_attempt(lease_id)
    assert h.lease(lease_id).revoke_attempts == 5
    # The permission is restored: the next slow retry is enough.
    assert SLOW / 2 <= h.wait(lease_id) <= SLOW
    assert await h.scheduled_attempt(lease_id) is True
    assert h.upstream.revoked == ["cred-1"]


async def test_a_restart_keeps_the_schedule_and_retries_parked_leases():
    store, clock = MemoryStore(), Clock()
    h = Harness(store, clock)
    lease_id = await h.issue()
    h.upstream.failures = [throttled() for _ in range(ATTEMPTS)]
    await h.leases.revoke(lease_id, sync=False)
    for _ in range(ATTEMPTS):
        await h.scheduled_attempt(lease_id)
    before = h.lease(lease_id)
    assert before.state is LeaseState.IRREVOCABLE and before.due is not None

    clock.now += 5
    again = Harness(store, clock)
    await again.leases.start_restore()
    await again.leases.wait_restored()
    after = again.lease(lease_id)
    assert (after.state, after.revoke_attempts, after.revoke_at) == (
        LeaseState.IRREVOCABLE,
        ATTEMPTS,
        before.revoke_at,
    )
    assert after.due == before.revoke_at
    assert await again.scheduled_attempt(lease_id) is True


async def test_a_lease_parked_for_good_by_an_older_version_is_retried_at_start():
    store, clock = MemoryStore(), Clock()
    h = Harness(store, clock)
    lease_id = await h.issue()
    record = h.lease(lease_id).to_storage()
    record.update(state="irrevocable", revoke_at=None, revoke_attempts=6)
    record["revoke_error"] = "out of retries: upstream throttled (503)"
    await store.put("sys/" + LEASE_PREFIX + lease_id, record)

    again = Harness(store, clock)
    await again.leases.start_restore()
    await again.leases.wait_restored()
    assert again.lease(lease_id).due == clock.now
    assert await again.leases.revoke_now(lease_id, scheduled=True) is True
    assert again.upstream.revoked == ["cred-1"]


async def test_a_new_credential_of_the_holder_supersedes_an_irrevocable_lease():
    """Rotate mode: the new reset killed the old password, and a retry of the old lease
    must not kill the new one."""
    h = Harness()
    old = await h.issue("cred-1", holder="user/alice")
    h.upstream.failures = [denied()]
    await h.leases.revoke(old, sync=False)
    await h.scheduled_attempt(old)
    assert h.lease(old).state is LeaseState.IRREVOCABLE
    retry_at = h.lease(old).revoke_at
    new = await h.issue("cred-2", holder="user/alice")
    assert h.leases.get(old) is None and h.leases.irrevocable() == []
    h.clock.now = retry_at
    assert await h.leases.revoke_now(old, scheduled=True) is True
    assert h.upstream.calls == 1 and h.upstream.revoked == []
    assert h.lease(new).state is LeaseState.ACTIVE
