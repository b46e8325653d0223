"""Leases expire on time: the expiry worker kills the password, and renewals postpone it."""

from __future__ import annotations

import time

from tests.e2e.conftest import ALICE, Setup, Tenant, assert_error_body, parse_time
from tests.waiting import wait_until_sync


def wait_clock_past(moment: float, timeout: float) -> None:
    """Wait (with a deadline) until the wall clock is past `moment`."""
    wait_until_sync(lambda: time.time() > moment, timeout=timeout, interval=0.02)


def test_password_dies_within_two_seconds_of_expire_time(configured: Setup, tenant: Tenant) -> None:
    configured.role("alice", ttl="2s", max_ttl="1m")
    secret = configured.creds("alice")
    lease_id, password = secret["lease_id"], secret["data"]["password"]
    assert secret["lease_duration"] == 2
    looked = configured.lookup(lease_id)
    assert looked.status_code == 200, looked.text
    expire = parse_time(looked.json()["data"]["expire_time"])
    issued = parse_time(looked.json()["data"]["issue_time"])
    assert abs(expire - issued - 2.0) < 0.01
    assert tenant.signs_in(ALICE, password)
    before = tenant.password_changes(ALICE)

    wait_until_sync(lambda: not tenant.signs_in(ALICE, password), timeout=10, interval=0.05)
    died = time.time()
    assert died - expire < 2.0, f"password still worked {died - expire:.2f}s after expiry"
    # The expiry worker reset the password (exactly once), it did not just forget the lease.
    assert tenant.password_changes(ALICE) == before + 1

    configured.wait_leases_forgotten("entra/creds/alice")
    assert assert_error_body(configured.lookup(lease_id), 400) == ["invalid lease"]
    renew = configured.api.request("PUT", "sys/leases/renew", json={"lease_id": lease_id})
    assert assert_error_body(renew, 400) == ["lease not found"]


def test_renew_with_increment_keeps_the_password_past_the_first_expiry(
    configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="2s", max_ttl="1m")
    secret = configured.creds("alice")
    lease_id, password = secret["lease_id"], secret["data"]["password"]
    first_expire = parse_time(configured.lookup(lease_id).json()["data"]["expire_time"])

    renewed = configured.api.request(
        "PUT", "sys/leases/renew", json={"lease_id": lease_id, "increment": "5s"}
    )
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["lease_duration"] == 5
    new_expire = parse_time(configured.lookup(lease_id).json()["data"]["expire_time"])
    assert new_expire > first_expire + 2

    wait_clock_past(first_expire + 1.0, timeout=10)
    assert time.time() < new_expire, "the machine is too slow for this test's margins"
    assert tenant.signs_in(ALICE, password)
    looked = configured.lookup(lease_id)
    assert looked.status_code == 200 and looked.json()["data"]["last_renewal"] is not None

    wait_until_sync(lambda: not tenant.signs_in(ALICE, password), timeout=10, interval=0.05)
    assert time.time() - new_expire < 2.0
    configured.wait_leases_forgotten("entra/creds/alice")


def test_renewals_are_capped_at_max_ttl_then_the_lease_ends(
    configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="2s", max_ttl="3s")
    secret = configured.creds("alice")
    lease_id, password = secret["lease_id"], secret["data"]["password"]
    issued = parse_time(configured.lookup(lease_id).json()["data"]["issue_time"])

    capped = configured.api.request(
        "PUT", "sys/leases/renew", json={"lease_id": lease_id, "increment": 60}
    )
    assert capped.status_code == 200, capped.text
    body = capped.json()
    assert 2 <= body["lease_duration"] <= 3
    assert body["warnings"] == [
        f'TTL of "1m" exceeded the effective max_ttl of "{body["lease_duration"]}s"; '
        "TTL value is capped accordingly"
    ]
    expire = parse_time(configured.lookup(lease_id).json()["data"]["expire_time"])
    # Vault's cap works on whole seconds: within about a second of issue + max_ttl.
    assert abs(expire - (issued + 3)) < 1.05

    wait_until_sync(lambda: not tenant.signs_in(ALICE, password), timeout=10, interval=0.05)
    assert time.time() - expire < 2.0
    configured.wait_leases_forgotten("entra/creds/alice")
    late = configured.api.request("PUT", "sys/leases/renew", json={"lease_id": lease_id})
    assert assert_error_body(late, 400) == ["lease not found"]
