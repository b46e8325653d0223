"""Leases are restored in the background after a restart, while the broker already serves.

A few thousand leases are written straight into the stopped broker's storage (as the
start-up benchmark does: issuing them through Graph would take the run), under roles
that sort between the real leases, so the real leases of the `zz-` roles are restored
last. The restore is held at the first filler lease (reads of it wait until the test
lets them go), so the test does not race it. Right after the restart, with those leases
provably not in memory yet, a lookup,
renew and revoke of them work (each read from storage on demand); a lease listing waits
for the restore and shows every lease; and a lease that expired while the broker was
down is revoked once restored.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from mount.build import Store
from mount.leases.record import LEASE_PREFIX
from mount.storage.barrier import Barrier
from mount.storage.open import open_store
from mount.storage.store import StorageView
from tests.bench.targets import lease_record
from tests.broker_thread import BrokerThread
from tests.e2e.conftest import ALICE, BOB, CAROL, Setup, Tenant, assert_error_body
from tests.waiting import wait_until_sync

FILLER_ROLES = 20
FILLERS = 2000


class HeldFillers:
    """The broker's real store, except that reads of filler leases wait for `release`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._released: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.held = threading.Event()  # a filler read is waiting

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def view(self, prefix: str) -> StorageView:
        return StorageView(self, prefix)

    async def get(self, key: str) -> Any | None:
        if "/filler-" in key:
            if self._released is None:
                self._loop = asyncio.get_running_loop()
                self._released = asyncio.Event()
            self.held.set()
            await self._released.wait()
        return await self._store.get(key)

    def release(self) -> None:
        if self._loop is not None and self._released is not None:
            self._loop.call_soon_threadsafe(self._released.set)


def filler_ids() -> list[str]:
    return [f"entra/creds/filler-{n % FILLER_ROLES}/lease{n:06d}" for n in range(FILLERS)]


def rewrite_storage(broker: BrokerThread, expired: str) -> None:
    """Seed the filler leases and move one real lease's expire time into the past."""

    async def write() -> None:
        store = open_store("tinydb", broker.storage_file, Barrier(broker.seal_key))
        try:
            now = time.time()
            items: dict[str, Any] = {
                f"sys/{LEASE_PREFIX}{lid}": lease_record(
                    lid, now + 3600, f"filler-object-{n}", f"filler{n}@example.test", now
                )
                for n, lid in enumerate(filler_ids())
            }
            key = f"sys/{LEASE_PREFIX}{expired}"
            record = await store.get(key)
            assert isinstance(record, dict)
            items[key] = {**record, "expire_time": now - 5}
            await store.put_many(items)
        finally:
            await store.close()

    asyncio.run(write())


def test_a_restart_serves_single_leases_during_restore_and_lists_all_after(
    broker: BrokerThread, configured: Setup, tenant: Tenant
) -> None:
    configured.role("early", user_principal_name=ALICE, ttl="10m", max_ttl="1h")
    configured.role("zz-renewed", user_principal_name=BOB, ttl="10m", max_ttl="1h")
    configured.role("zz-revoked", user_principal_name=CAROL, ttl="10m", max_ttl="1h")
    expired = configured.creds("early")
    renewed = configured.creds("zz-renewed")
    revoked = configured.creds("zz-revoked")
    broker.stop()
    rewrite_storage(broker, expired["lease_id"])

    held: list[HeldFillers] = []

    def hold(store: Store) -> Store:
        held.append(HeldFillers(store))
        return held[-1]  # type: ignore[return-value]

    broker.wrap_store = hold
    broker.start()
    core = broker.core
    assert core is not None
    leases = core.leases
    # The precondition of everything below: the broker serves, the restore is running
    # (held at the first filler) and the zz- leases (last in key order) are not in memory.
    assert held[0].held.wait(10), "the restore never reached the filler leases"
    assert not leases.is_restored()
    assert leases.get(renewed["lease_id"]) is None and leases.get(revoked["lease_id"]) is None

    looked = configured.lookup(renewed["lease_id"])
    assert looked.status_code == 200, looked.text
    assert looked.json()["data"]["id"] == renewed["lease_id"]
    renewal = configured.api.request(
        "PUT", "sys/leases/renew", json={"lease_id": renewed["lease_id"], "increment": "30m"}
    )
    assert renewal.status_code == 200, renewal.text
    assert renewal.json()["lease_duration"] == 1800
    assert leases.get(revoked["lease_id"]) is None
    gone = configured.api.request(
        "PUT", "sys/leases/revoke", json={"lease_id": revoked["lease_id"]}
    )
    assert gone.status_code == 204, gone.text
    assert not tenant.signs_in(CAROL, revoked["data"]["password"])
    assert not leases.is_restored()
    done, total = leases.restore_progress()
    assert done < total == FILLERS + 3
    held[0].release()

    # A listing waits for the restore, then shows every lease: none missing, none twice.
    roles = configured.lease_keys("entra/creds/")
    assert leases.is_restored()
    # (early/ holds the expired lease until the expiry worker has revoked it.)
    assert [role for role in roles if role != "early/"] == sorted(
        [f"filler-{n}/" for n in range(FILLER_ROLES)] + ["zz-renewed/"]
    )
    for n in range(FILLER_ROLES):
        assert len(configured.lease_keys(f"entra/creds/filler-{n}/")) == FILLERS // FILLER_ROLES
    assert configured.lease_keys("entra/creds/zz-revoked/") == []

    # The restore did not put back the stored (older) copy of the lease renewed meanwhile.
    after = configured.lookup(renewed["lease_id"]).json()["data"]
    assert after["ttl"] > 25 * 60
    assert tenant.signs_in(BOB, renewed["data"]["password"])

    # The lease that expired while the broker was down is revoked once restored.
    wait_until_sync(lambda: not tenant.signs_in(ALICE, expired["data"]["password"]), timeout=10)
    wait_until_sync(lambda: leases.get(expired["lease_id"]) is None, timeout=10)
    assert assert_error_body(configured.lookup(expired["lease_id"]), 400) == ["invalid lease"]
    assert len(list(leases.all())) == FILLERS + 1
