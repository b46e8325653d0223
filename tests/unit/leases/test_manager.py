"""The lease manager on its own (mount/leases/manager.py), with a fake clock.

Issue, renew and revoke; superseding a holder's earlier leases (rotate mode; exclusive
check-out is the engine's rule, tests/integration/test_issue_guard.py); the lease-count
quota; the restore reading a lease on demand.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from mount.leases.record import LEASE_PREFIX, Lease, LeaseState
from mount.sdk.errors import InvalidRequestError, RateLimitedError
from mount.sdk.logical import SecretTTL
from mount.sdk.telemetry import CREDS_ISSUED, LEASE_RENEWALS, REVOCATIONS
from mount.storage.memory import MemoryStore
from tests.unit.leases.fakes import MOUNT, START, FakeClock, Leases, settings


async def test_issue_renew_up_to_the_max_ttl_with_the_cap_then_revoke():
    leases = Leases()
    lease = await leases.issue(ttl=60, max_ttl=120)
    assert lease.lease_id.startswith(f"{MOUNT}creds/a/") and lease.role == "a"
    assert (lease.state, lease.issue_time, lease.expire_time) == (
        LeaseState.ACTIVE,
        START,
        START + 60,
    )
    # Stored active, with the internal data the issue step returned (the credential's id).
    stored = await leases.stored(lease.lease_id)
    assert stored is not None and stored["state"] == "active"
    assert stored["internal"] == {"credential": "cred-1", "id": 7}
    assert leases.metrics.count(CREDS_ISSUED, mount=MOUNT, role="a") == 1

    leases.clock.advance(30)
    renewed, warnings, ttl = await leases.manager.renew(lease.lease_id, 60)
    assert (renewed.expire_time, renewed.last_renewal, warnings) == (START + 90, START + 30, [])
    assert ttl == 60  # what the renewal granted, for the answer's lease_duration

    # Past issue time + max TTL the renewal is capped, and says so as Vault does.
    leases.clock.advance(50)
    capped, warnings, ttl = await leases.manager.renew(lease.lease_id, 3600)
    assert capped.expire_time == START + 120 and ttl == 40
    assert warnings == [
        'TTL of "1h" exceeded the effective max_ttl of "40s"; TTL value is capped accordingly'
    ]
    assert leases.metrics.count(LEASE_RENEWALS, mount=MOUNT, role="a") == 2
    looked_up = await leases.manager.lookup(lease.lease_id)
    assert looked_up.lookup_data(leases.clock())["ttl"] == 40

    await leases.manager.revoke(lease.lease_id, sync=True)
    assert leases.secret.revoked == ["cred-1"]
    assert leases.manager.get(lease.lease_id) is None
    assert await leases.stored(lease.lease_id) is None
    assert leases.metrics.count(REVOCATIONS, mount=MOUNT, result="ok") == 1
    with pytest.raises(InvalidRequestError, match="invalid lease"):
        await leases.manager.lookup(lease.lease_id)


async def test_renew_at_the_max_ttl_and_after_the_end_is_refused():
    leases = Leases()
    lease = await leases.issue(ttl=60, max_ttl=60)
    leases.clock.advance(59)
    # The max TTL leaves one second: the renewal gets it, with the warning.
    renewed, warnings, _ = await leases.manager.renew(lease.lease_id, 0)
    assert renewed.expire_time == START + 60 and len(warnings) == 1
    leases.clock.advance(1)
    with pytest.raises(InvalidRequestError, match="lease expired"):
        await leases.manager.renew(lease.lease_id, 0)


async def test_the_backends_renewal_ttls_bound_the_renewal():
    leases = Leases()
    lease = await leases.issue(ttl=60, max_ttl=300)
    leases.secret.renew_ttl = SecretTTL(ttl=timedelta(seconds=30), max_ttl=timedelta(seconds=100))
    leases.clock.advance(10)
    renewed, warnings, _ = await leases.manager.renew(lease.lease_id, 0)
    assert renewed.expire_time == START + 40 and warnings == []
    leases.clock.advance(10)
    capped, warnings, _ = await leases.manager.renew(lease.lease_id, 500)
    assert capped.expire_time == START + 100  # the backend's max TTL, below the lease's
    assert warnings == [
        'TTL of "8m20s" exceeded the effective max_ttl of "1m20s"; TTL value is capped accordingly'
    ]


async def test_a_new_credential_of_the_holder_supersedes_its_earlier_lease():
    """Rotate mode: the new reset made the old password useless, so its lease ends
    without a backend call (a revoke would kill the new password)."""
    leases = Leases()
    old = await leases.issue("cred-1", holder="user/alice")
    leases.clock.advance(5)
    new = await leases.issue("cred-2", holder="user/alice")
    assert leases.manager.get(old.lease_id) is None
    assert await leases.stored(old.lease_id) is None
    assert leases.manager.get(new.lease_id) == new and new.holder_key == f"{MOUNT}user/alice"
    assert leases.secret.issued == ["cred-1", "cred-2"] and leases.secret.revoke_calls == 0
    assert leases.metrics.count(REVOCATIONS, mount=MOUNT, result="superseded") == 1
    # Another holder's lease is left alone.
    other = await leases.issue("cred-3", holder="user/bob")
    assert leases.manager.get(new.lease_id) is not None
    assert {le.lease_id for le in leases.manager.all()} == {new.lease_id, other.lease_id}


async def test_the_lease_count_quota_per_role_says_when_the_first_lease_ends():
    leases = Leases(settings(max_leases_per_role=2))
    await leases.issue("cred-1", ttl=60)
    leases.clock.advance(10)
    await leases.issue("cred-2", ttl=60)
    with pytest.raises(RateLimitedError) as refused:
        await leases.issue("cred-3")
    assert refused.value.status == 429
    assert refused.value.retry_after == 50  # cred-1's lease ends at START + 60
    assert refused.value.message == (
        f"lease count quota exceeded: {MOUNT}creds/a already has 2 active leases and "
        "max_leases_per_role is 2; revoke leases or wait for them to expire"
    )
    assert leases.secret.issued == ["cred-1", "cred-2"]
    await leases.issue("cred-4", role="b")  # another role counts on its own


async def test_the_lease_count_quota_per_mount_counts_every_role_and_frees_on_revoke():
    leases = Leases(settings(max_leases_per_mount=2))
    first = await leases.issue("cred-1", role="a")
    await leases.issue("cred-2", role="b")
    with pytest.raises(RateLimitedError, match="max_leases_per_mount is 2"):
        await leases.issue("cred-3", role="c")
    await leases.manager.revoke(first.lease_id, sync=True)
    await leases.issue("cred-3", role="c")
    assert leases.manager.active_count() == 2


async def _stored_leases(store: MemoryStore, count: int) -> list[str]:
    ids = [f"{MOUNT}creds/a/lease{n:03d}" for n in range(count)]
    for lease_id in ids:
        lease = Lease(
            lease_id=lease_id,
            mount=MOUNT,
            secret_type="recording",
            internal={"credential": lease_id, "id": 7},
            issue_time=START,
            expire_time=START + 600,
            ttl=600,
            max_ttl=600,
            renewable=True,
        )
        await store.put("sys/" + LEASE_PREFIX + lease_id, lease.to_storage())
    return ids


async def test_during_the_restore_a_lease_not_restored_yet_is_read_on_demand():
    store = MemoryStore()
    ids = await _stored_leases(store, 5)
    leases = Leases(store=store, clock=FakeClock())
    await leases.manager.start_restore()
    # The first lease is in memory before serving; the rest come in the background task,
    # which has not run yet (nothing has yielded to the event loop).
    assert not leases.manager.is_restored()
    assert leases.manager.restore_progress() == (1, 5)
    assert leases.manager.get(ids[0]) is not None and leases.manager.get(ids[3]) is None
    looked_up = await leases.manager.lookup(ids[3])
    assert looked_up.lease_id == ids[3] and looked_up.expire_time == START + 600
    renewed, _, _ = await leases.manager.renew(ids[4], 60)
    assert renewed.expire_time == START + 60
    # A lease revoked before the restore reaches it is not revived by it.
    await leases.manager.revoke(ids[2], sync=True)
    assert not leases.manager.is_restored()
    await leases.manager.wait_restored()
    assert sorted(le.lease_id for le in leases.manager.all()) == [ids[0], ids[1], ids[3], ids[4]]
    # ... and the renewal read on demand is what stays, not the stored record of before.
    assert leases.manager.get(ids[4]) == renewed
    assert leases.secret.revoked == [ids[2]]


async def test_a_lease_pending_at_start_is_revoked():
    """The process died while issuing: the credential may exist."""
    store = MemoryStore()
    (lease_id,) = await _stored_leases(store, 1)
    record = await store.get("sys/" + LEASE_PREFIX + lease_id)
    record["state"] = "pending"
    await store.put("sys/" + LEASE_PREFIX + lease_id, record)
    clock = FakeClock(START + 30)
    leases = Leases(store=store, clock=clock)
    await leases.manager.start_restore()
    restored = leases.manager.get(lease_id)
    assert restored is not None and restored.due == START + 30
    assert await leases.manager.revoke_now(lease_id, scheduled=True) is True
    assert leases.secret.revoked == [lease_id]
