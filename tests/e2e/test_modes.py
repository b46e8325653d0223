"""One Entra user, one password: `rotate` and `exclusive` roles under concurrent reads."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.broker_thread import ROOT_TOKEN
from tests.e2e.conftest import ALICE, HTTP_TIMEOUT, LEASE_ID, Setup, Tenant, assert_error_body

READERS = 20


def concurrent_reads(url: str, path: str, count: int = READERS) -> list[httpx.Response]:
    """`count` GETs released together, each from its own thread and HTTP client."""
    start = threading.Barrier(count)

    def read(_: int) -> httpx.Response:
        with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as client:
            start.wait(timeout=HTTP_TIMEOUT)
            return client.get(f"{url}/v1/{path}", headers={"X-Vault-Token": ROOT_TOKEN})

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(read, range(count)))


def test_rotate_leaves_exactly_one_live_lease_and_one_working_password(
    configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="10m")
    before = tenant.password_changes(ALICE)

    responses = concurrent_reads(configured.api.url, "entra/creds/alice")

    assert [r.status_code for r in responses] == [200] * READERS, [r.text for r in responses]
    bodies = [r.json() for r in responses]
    lease_ids = [b["lease_id"] for b in bodies]
    assert all(LEASE_ID.match(lid) for lid in lease_ids)
    assert len(set(lease_ids)) == READERS
    passwords = [b["data"]["password"] for b in bodies]
    assert len(set(passwords)) == READERS
    # Every read reset the password once; superseding the older leases reset nothing more.
    assert tenant.password_changes(ALICE) == before + READERS

    keys = configured.lease_keys("entra/creds/alice")
    assert len(keys) == 1, keys
    survivor = f"entra/creds/alice/{keys[0]}"
    working = [b["lease_id"] for b in bodies if tenant.signs_in(ALICE, b["data"]["password"])]
    assert working == [survivor]
    for lease_id in lease_ids:
        looked = configured.lookup(lease_id)
        assert looked.status_code == (200 if lease_id == survivor else 400), lease_id


def test_exclusive_issues_exactly_one_until_it_is_revoked(
    configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="10m", mode="exclusive")
    before = tenant.password_changes(ALICE)

    responses = concurrent_reads(configured.api.url, "entra/creds/alice")

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (READERS - 1), [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    lease_id = winner["lease_id"]
    for refused in (r for r in responses if r.status_code == 400):
        (sentence,) = assert_error_body(refused, 400)
        assert sentence.startswith(
            "the credential at entra/creds/alice is checked out by a lease of "
            "entra/creds/alice issued at "
        ), sentence
        assert "exclusive" in sentence
    assert tenant.password_changes(ALICE) == before + 1
    assert tenant.signs_in(ALICE, winner["data"]["password"])
    assert configured.lease_keys("entra/creds/alice") == [lease_id.rsplit("/", 1)[1]]

    refused = configured.api.request("GET", "entra/creds/alice")
    assert refused.status_code == 400

    revoked = configured.api.request("PUT", "sys/leases/revoke", json={"lease_id": lease_id})
    assert revoked.status_code == 204, revoked.text
    assert not tenant.signs_in(ALICE, winner["data"]["password"])

    again = configured.creds("alice")
    assert again["lease_id"] != lease_id
    assert tenant.signs_in(ALICE, again["data"]["password"])
    assert configured.lease_keys("entra/creds/alice") == [again["lease_id"].rsplit("/", 1)[1]]


def test_rotate_across_two_roles_of_one_user(configured: Setup, tenant: Tenant) -> None:
    """Two roles bound to the same user share its one password: the newer read wins."""
    configured.role("alice", ttl="10m")
    configured.role("alice-ops", user_principal_name=ALICE, ttl="10m")
    first = configured.creds("alice")
    second = configured.creds("alice-ops")
    assert not tenant.signs_in(ALICE, first["data"]["password"])
    assert tenant.signs_in(ALICE, second["data"]["password"])
    assert configured.lease_keys("entra/creds/alice") == []
    assert len(configured.lease_keys("entra/creds/alice-ops")) == 1


def test_exclusive_checkout_holds_against_a_rotate_role_of_the_same_user(
    configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="10m", mode="exclusive")
    configured.role("alice-ops", user_principal_name=ALICE, ttl="10m")
    checked_out = configured.creds("alice")
    before = tenant.password_changes(ALICE)

    other = configured.api.request("GET", "entra/creds/alice-ops")

    # Whatever the refusal says, the checked-out password must keep working.
    assert tenant.signs_in(ALICE, checked_out["data"]["password"])
    assert tenant.password_changes(ALICE) == before
    assert configured.lease_keys("entra/creds/alice") == [checked_out["lease_id"].rsplit("/", 1)[1]]
    assert assert_error_body(other, 400)
