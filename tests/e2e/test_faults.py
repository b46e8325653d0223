"""When Entra fails: no credential without a lease, and no lease forgotten while it works.

Faults are injected in the emulator (its admin API), so the broker sees real HTTP errors.
The broker thread retries revocations with a 0.2 s backoff base (1 s in production).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import ALICE, BOB, Setup, Tenant, assert_error_body, parse_time
from tests.waiting import wait_until_sync

RESET = "PATCH /v1.0/users/.*"


def irrevocable(setup: Setup) -> dict[str, Any]:
    response = setup.api.request("GET", "sys/leases?type=irrevocable")
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_revocation_refused_for_good_is_kept_as_irrevocable(
    configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="1h")
    secret = configured.creds("alice")
    lease_id, password = secret["lease_id"], secret["data"]["password"]
    tenant.fault(match=RESET, status=403, code="Authorization_RequestDenied")

    queued = configured.api.request(
        "PUT", "sys/leases/revoke", json={"lease_id": lease_id, "sync": False}
    )
    assert queued.status_code == 202
    # A withdrawn permission refuses every quick retry: the lease shows as irrevocable at
    # once, with the reason, is never dropped, and is retried every 10 minutes.
    wait_until_sync(lambda: irrevocable(configured)["lease_count"] == 1, timeout=20, interval=0.2)
    (parked,) = irrevocable(configured)["leases"]
    assert parked["lease_id"] == lease_id
    assert parked["error"].startswith("not retryable, retried every 10m: ")
    assert "Authorization_RequestDenied" in parked["error"]
    count = configured.api.request("GET", "sys/leases/count?type=irrevocable").json()["data"]
    assert count["lease_count"] == 1 and sum(count["counts"].values()) == 1
    # The broker failed to kill the password, and says so instead of pretending.
    assert tenant.signs_in(ALICE, password)
    assert configured.lease_keys("entra/creds/alice") == [lease_id.rsplit("/", 1)[1]]
    renew = configured.api.request("PUT", "sys/leases/renew", json={"lease_id": lease_id})
    assert assert_error_body(renew, 400) == [
        "lease is expired and has failed previous revocation attempts"
    ]

    tenant.clear_faults()
    forced = configured.api.request("PUT", "sys/leases/revoke-force/entra/creds/alice")
    assert forced.status_code == 204, forced.text
    assert not tenant.signs_in(ALICE, password)
    assert irrevocable(configured) == {"lease_count": 0, "leases": []}
    assert configured.lease_keys("entra/creds/alice") == []


def test_sync_revoke_that_fails_keeps_the_lease_and_retries(
    broker: BrokerThread, configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="1h")
    secret = configured.creds("alice")
    entry = broker.core.mounts.get("entra/")
    assert entry is not None
    entry.backend.graph_deadline = 1.0  # give up on Graph after 1 s instead of 30 s
    # Throttled for longer than a request may wait: a transient failure, retried later
    # (after the Retry-After, which holds every caller).
    tenant.fault(match=RESET, status=429, retry_after=3, count=1)
    failed = configured.api.request(
        "PUT", "sys/leases/revoke", json={"lease_id": secret["lease_id"]}
    )
    # An upstream failure, not bad input: 502 with Vault's error body and a sentence.
    assert failed.status_code == 502, failed.text
    (sentence,) = failed.json()["errors"]
    assert "alice@example.test" in sentence and "Traceback" not in sentence
    assert configured.lease_keys("entra/creds/alice") == [secret["lease_id"].rsplit("/", 1)[1]]
    # The retry after the fault ends does what the failed call could not.
    tenant.wait_signs_in_fails(ALICE, secret["data"]["password"], timeout=10)
    wait_until_sync(lambda: configured.lease_keys("entra/creds/alice") == [], timeout=10)


def test_issue_refused_by_entra_leaves_no_lease(configured: Setup, tenant: Tenant) -> None:
    configured.role("alice", ttl="1h")
    before = tenant.password_changes(ALICE)
    tenant.fault(match=RESET, status=403, code="Authorization_RequestDenied")
    refused = configured.api.request("GET", "entra/creds/alice")
    assert refused.status_code == 502, refused.text
    body = refused.json()
    assert list(body) == ["errors"] and "alice@example.test" in body["errors"][0]
    assert "Traceback" not in refused.text
    assert configured.lease_keys("entra/creds/alice") == []
    assert tenant.password_changes(ALICE) == before
    tenant.clear_faults()
    assert tenant.signs_in(ALICE, configured.creds("alice")["data"]["password"])


def test_issue_with_unknown_outcome_is_revoked_when_entra_recovers(
    broker: BrokerThread, configured: Setup, tenant: Tenant
) -> None:
    """A 5xx may hide a reset that happened: the broker revokes the lease to be sure."""
    assert broker.core is not None
    entry = broker.core.mounts.get("entra/")
    assert entry is not None
    entry.backend.graph_deadline = 2.0  # give up on Graph after 2 s instead of 30 s
    configured.role("bob", ttl="1h")
    tenant.fault(match=RESET, status=503)
    before = tenant.password_changes(BOB)

    failed = configured.api.request("GET", "entra/creds/bob")
    assert failed.status_code == 502, failed.text
    assert "bob@example.test" in failed.json()["errors"][0]
    # Kept, to be revoked: the broker cannot know the reset did not happen.
    keys = configured.lease_keys("entra/creds/bob")
    assert len(keys) == 1

    tenant.clear_faults()
    wait_until_sync(lambda: configured.lease_keys("entra/creds/bob") == [], timeout=15)
    assert tenant.password_changes(BOB) == before + 1  # the revocation's reset


def short_graph_deadline(broker: BrokerThread, seconds: float) -> None:
    """Give up on Graph after `seconds` instead of 30 s, so a test outlasts its faults."""
    assert broker.core is not None
    entry = broker.core.mounts.get("entra/")
    assert entry is not None
    entry.backend.graph_deadline = seconds


def fault_hits(tenant: Tenant) -> int:
    return sum(int(fault["hits"]) for fault in tenant.admin("GET", "faults"))


def user_path(tenant: Tenant, upn: str) -> str:
    """A fault pattern for Graph calls on one user, by object id or UPN."""
    object_id = tenant.users()[upn]["id"]
    return f"PATCH /v1.0/users/({object_id}|{upn})$"


def test_a_dropped_connection_mid_reset_is_retried_into_a_working_credential(
    configured: Setup, tenant: Tenant
) -> None:
    configured.role("carol", ttl="1h")
    before = tenant.password_changes("carol@example.test")
    # The reset happens, then the connection drops: the broker cannot know, so it retries.
    tenant.fault(match=RESET, drop=True, apply=True, count=1)
    secret = configured.creds("carol")
    assert tenant.signs_in("carol@example.test", secret["data"]["password"])
    assert tenant.password_changes("carol@example.test") == before + 2
    assert configured.lease_keys("entra/creds/carol") == [secret["lease_id"].rsplit("/", 1)[1]]


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"timeout": True, "hold_seconds": 5}, id="timeout"),
        pytest.param({"drop": True, "apply": True}, id="dropped-after-reset"),
    ],
)
def test_a_creds_read_that_outlasts_entra_fails_cleanly_and_leaves_no_password(
    broker: BrokerThread, configured: Setup, tenant: Tenant, fault: dict[str, Any]
) -> None:
    short_graph_deadline(broker, 1.5)
    configured.role("bob", ttl="1h")
    before = tenant.password_changes(BOB)
    tenant.fault(match=RESET, **fault)

    failed = configured.api.request("GET", "entra/creds/bob")
    assert failed.status_code == 502, failed.text
    (sentence,) = failed.json()["errors"]
    assert BOB in sentence and "Microsoft Graph" in sentence and "Traceback" not in sentence
    # Resets may have happened (every dropped call applied one): the lease is kept so that
    # whatever password Entra now holds is reset once Entra answers again.
    assert len(configured.lease_keys("entra/creds/bob")) == 1
    applied = fault_hits(tenant) if fault.get("apply") else 0
    assert applied >= (1 if fault.get("apply") else 0)
    assert tenant.password_changes(BOB) == before + applied

    tenant.clear_faults()
    wait_until_sync(lambda: configured.lease_keys("entra/creds/bob") == [], timeout=20)
    assert tenant.password_changes(BOB) == before + applied + 1  # the revocation's reset


def test_expiry_keeps_serving_other_leases_while_one_revocation_hangs(
    broker: BrokerThread,
    configured: Setup,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="mount.leases.manager")
    short_graph_deadline(broker, 1.0)
    configured.role("alice", ttl="1h")
    configured.role("bob", ttl="3s", max_ttl="1m")
    stuck = configured.creds("alice")
    # Every reset of alice hangs past the deadline; bob's resets are untouched.
    tenant.fault(match=user_path(tenant, ALICE), timeout=True, hold_seconds=3)
    queued = configured.api.request(
        "PUT", "sys/leases/revoke", json={"lease_id": stuck["lease_id"], "sync": False}
    )
    assert queued.status_code == 202, queued.text

    expiring = configured.creds("bob")
    expire = parse_time(configured.lookup(expiring["lease_id"]).json()["data"]["expire_time"])
    tenant.wait_signs_in_fails(BOB, expiring["data"]["password"], timeout=15)
    assert time.time() - expire < 2.0, "bob's expiry waited behind alice's revocation"
    wait_until_sync(lambda: configured.lease_keys("entra/creds/bob") == [], timeout=10)

    # Alice's lease is still tracked, and each failed attempt is in the log with its id.
    assert configured.lease_keys("entra/creds/alice") == [stuck["lease_id"].rsplit("/", 1)[1]]
    wait_until_sync(
        lambda: any(
            "lease revoke failed, retrying" in record.getMessage()
            and getattr(record, "lease_id", None) == stuck["lease_id"]
            for record in caplog.records
        ),
        timeout=10,
    )
    assert tenant.signs_in(ALICE, stuck["data"]["password"])

    tenant.clear_faults()
    tenant.wait_signs_in_fails(ALICE, stuck["data"]["password"], timeout=20)
    wait_until_sync(lambda: configured.lease_keys("entra/creds/alice") == [], timeout=10)
    assert irrevocable(configured)["lease_count"] == 0
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert stuck["data"]["password"] not in logged


@pytest.fixture(autouse=True)
def _no_faults_left(tenant: Tenant):
    yield
    tenant.clear_faults()


def test_a_config_write_does_not_fail_a_request_already_talking_to_graph(
    configured: Setup, tenant: Tenant
) -> None:
    """The Graph client a request took stays open while the config write replaces it."""
    fault = tenant.fault(match=r"^GET /v1\.0/users$", latency_ms=1500, count=2)
    answers: list[Any] = []
    listing = threading.Thread(
        target=lambda: answers.append(configured.api.request("LIST", "entra/users"))
    )
    listing.start()
    try:

        def held() -> bool:
            listed = {f["id"]: f for f in tenant.admin("GET", "faults")}
            return listed.get(fault["id"], {}).get("hits") == 1

        wait_until_sync(held, timeout=10)
        # A new max_graph_calls builds new clients: the old ones must outlive this list.
        configured.config(max_graph_calls=7)
    finally:
        listing.join(timeout=30)
        tenant.clear_faults()
    assert len(answers) == 1
    assert answers[0].status_code == 200, answers[0].text
    assert "alice@example.test" in answers[0].text
