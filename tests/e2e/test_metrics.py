"""Metrics after a real scenario: issue, renew, revoke, expiry, throttling, a refusal for good.

The broker talks to the emulated tenant; sys/metrics is scraped over HTTP as Prometheus
would, parsed with prometheus_client's own parser, and every number is checked exactly.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mount.metrics import PROMETHEUS_CONTENT_TYPE
from tests.broker_thread import ROOT_TOKEN
from tests.e2e.conftest import Api, Setup, Tenant
from tests.waiting import wait_until_sync

Samples = dict[str, dict[tuple[tuple[str, str], ...], float]]
ENTRA = ("mount", "entra/")


def scrape(api: Api) -> Samples:
    response = api.request(
        "GET",
        "sys/metrics?format=prometheus",
        token=None,
        headers={"Authorization": f"Bearer {ROOT_TOKEN}"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == PROMETHEUS_CONTENT_TYPE
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def role(name: str) -> dict[str, str]:
    return {"mount": "entra/", "role": name}


def patch_of(tenant: Tenant, upn: str) -> str:
    object_id = tenant.users()[upn]["id"]
    return f"PATCH /v1.0/users/({object_id}|{upn})$"


def test_metrics_count_a_whole_scenario_exactly(
    configured: Setup, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mount")
    api = configured.api
    configured.role("alice", ttl="1h")
    configured.role("bob", ttl="2s", max_ttl="1m")
    configured.role("carol", ttl="1h")
    before = scrape(api)

    configured.creds("bob")  # expires by itself while the rest runs
    alice = configured.creds("alice")
    renewed = api.request("PUT", "sys/leases/renew", json={"lease_id": alice["lease_id"]})
    assert renewed.status_code == 200, renewed.text
    assert api.request("PUT", "sys/leases/revoke", json={"lease_id": alice["lease_id"]}).is_success

    # Throttled once: the broker waits the Retry-After (1 s) and the second attempt works.
    tenant.fault(match=patch_of(tenant, "carol@example.test"), status=429, retry_after=1, count=1)
    carol = configured.creds("carol")
    # Then Entra refuses carol's reset for good: her lease is parked as irrevocable.
    tenant.fault(
        match=patch_of(tenant, "carol@example.test"),
        status=403,
        code="Authorization_RequestDenied",
    )
    queued = api.request(
        "PUT", "sys/leases/revoke", json={"lease_id": carol["lease_id"], "sync": False}
    )
    assert queued.status_code == 202
    wait_until_sync(lambda: configured.lease_keys("entra/creds/bob") == [], timeout=10)
    wait_until_sync(
        lambda: value(scrape(api), "entra_broker_leases_irrevocable", **role("carol")) == 1,
        timeout=10,
    )

    after = scrape(api)
    for name in ("alice", "bob", "carol"):
        assert value(after, "entra_broker_creds_issued_total", **role(name)) == 1, name
        assert value(after, "entra_broker_leases_active", **role(name)) == 0, name
    assert value(after, "entra_broker_lease_renewals_total", **role("alice")) == 1
    assert after["entra_broker_lease_renewals_total"] == {tuple(sorted(role("alice").items())): 1}
    assert after["entra_broker_revocations_total"] == {
        (ENTRA, ("result", "ok")): 2,  # alice revoked, bob expired
        (ENTRA, ("result", "irrevocable")): 1,  # carol
    }
    assert after["entra_broker_leases_irrevocable"] == {
        tuple(sorted(role(name).items())): (1 if name == "carol" else 0)
        for name in ("alice", "bob", "carol")
    }
    assert after["entra_broker_expiry_lag_seconds_count"] == {(ENTRA,): 1}
    assert 0 <= after["entra_broker_expiry_lag_seconds_sum"][(ENTRA,)] < 2

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Resets: bob, alice, carol (twice), then revocations of alice, bob and carol.
    assert (
        grew("entra_broker_graph_requests_total", mount="entra/", method="PATCH", status="204") == 5
    )
    assert (
        grew("entra_broker_graph_requests_total", mount="entra/", method="PATCH", status="429") == 1
    )
    assert (
        grew("entra_broker_graph_requests_total", mount="entra/", method="PATCH", status="403") == 1
    )
    # One directory-role check per issue (a privileged user is never handed out).
    assert (
        grew("entra_broker_graph_requests_total", mount="entra/", method="GET", status="200") == 3
    )
    assert (
        grew("entra_broker_graph_request_duration_seconds_count", mount="entra/", method="PATCH")
        == 7
    )
    assert grew("entra_broker_graph_throttle_waits_total", mount="entra/") == 1
    assert grew("entra_broker_graph_throttle_wait_seconds_total", mount="entra/") == 1.0

    # The JSON form (Vault's default) shows the same numbers.
    body = api.request("GET", "sys/metrics").json()
    json_counters = {
        (c["Name"], tuple(sorted(c["Labels"].items()))): c["Sum"] for c in body["Counters"]
    }
    for (name, labels), total in json_counters.items():
        if name != "entra_broker_requests_total":  # the scrapes since grew it
            assert value(after, name, **dict(labels)) == total, (name, labels)
    gauges = {(g["Name"], tuple(sorted(g["Labels"].items()))): g["Value"] for g in body["Gauges"]}
    assert gauges[("entra_broker_leases_irrevocable", tuple(sorted(role("carol").items())))] == 1

    # Every lease event line names the lease, its role and mount, and the owner's accessor.
    events = [r for r in caplog.records if r.name == "mount.leases.manager" and hasattr(r, "event")]
    kinds = {r.__dict__["event"] for r in events}
    assert {"issued", "renewed", "revoked", "expired", "irrevocable"} <= kinds
    for record in events:
        fields: dict[str, Any] = record.__dict__
        assert fields["lease_id"].startswith(f"entra/creds/{fields['role']}/"), fields
        assert fields["mount"] == "entra/" and fields["accessor"], fields
        assert ROOT_TOKEN != fields["accessor"]


def test_metrics_need_a_token(api: Api) -> None:
    for path in ("sys/metrics", "sys/metrics?format=prometheus"):
        response = api.request("GET", path, token=None)
        assert response.status_code == 403
        assert response.json() == {"errors": ["permission denied"]}
