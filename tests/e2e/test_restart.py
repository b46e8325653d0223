"""Leases survive a broker restart; a lease that expired while it was down is revoked at start."""

from __future__ import annotations

import time

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import ALICE, BOB, CAROL, Setup, Tenant, assert_error_body, parse_time
from tests.waiting import wait_until_sync


def test_leases_survive_a_restart(broker: BrokerThread, configured: Setup, tenant: Tenant) -> None:
    configured.role("alice", ttl="10m", max_ttl="1h")
    configured.role("bob", ttl="10m", max_ttl="1h")
    configured.role("carol", ttl="10m", mode="exclusive")
    alice = configured.creds("alice")
    bob = configured.creds("bob")
    carol = configured.creds("carol")
    issued = {s["lease_id"]: s for s in (alice, bob, carol)}
    lookups = {lid: configured.lookup(lid).json()["data"] for lid in issued}
    changes = {upn: tenant.password_changes(upn) for upn in (ALICE, BOB, CAROL)}

    broker.restart()

    for lease_id, secret in issued.items():
        role = lease_id.split("/")[2]
        assert configured.lease_keys(f"entra/creds/{role}") == [lease_id.rsplit("/", 1)[1]]
        looked = configured.lookup(lease_id)
        assert looked.status_code == 200, looked.text
        data = looked.json()["data"]
        for key in ("expire_time", "issue_time", "path", "renewable"):
            assert data[key] == lookups[lease_id][key], key
        upn = secret["data"]["user_principal_name"]
        assert tenant.signs_in(upn, secret["data"]["password"]), upn
    # The restart reset nobody's password.
    assert {upn: tenant.password_changes(upn) for upn in changes} == changes

    renewed = configured.api.request(
        "PUT", "sys/leases/renew", json={"lease_id": alice["lease_id"], "increment": "20m"}
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["lease_duration"] == 1200
    # The check-out of carol's credential is remembered too.
    refused = configured.api.request("GET", "entra/creds/carol")
    (sentence,) = assert_error_body(refused, 400)
    assert "checked out by a lease of entra/creds/carol issued at " in sentence
    # And revocation works on a restored lease.
    revoked = configured.api.request("PUT", "sys/leases/revoke", json={"lease_id": bob["lease_id"]})
    assert revoked.status_code == 204
    assert not tenant.signs_in(BOB, bob["data"]["password"])


def test_a_lease_that_expired_while_down_is_revoked_at_start(
    broker: BrokerThread, configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="3s", max_ttl="1m")
    configured.role("bob", ttl="10m")
    short = configured.creds("alice")
    long = configured.creds("bob")
    expire = parse_time(configured.lookup(short["lease_id"]).json()["data"]["expire_time"])
    password = short["data"]["password"]

    broker.stop()
    wait_until_sync(lambda: time.time() > expire + 0.5, timeout=10)
    # Nobody revoked it while the broker was down: the password still works.
    assert tenant.signs_in(ALICE, password)

    broker.start()
    started = time.time()
    wait_until_sync(lambda: not tenant.signs_in(ALICE, password), timeout=10, interval=0.05)
    assert time.time() - started < 3.0
    configured.wait_leases_forgotten("entra/creds/alice")
    assert assert_error_body(configured.lookup(short["lease_id"]), 400) == ["invalid lease"]
    # The lease that had not expired is untouched.
    assert tenant.signs_in(BOB, long["data"]["password"])
    assert configured.lookup(long["lease_id"]).status_code == 200
