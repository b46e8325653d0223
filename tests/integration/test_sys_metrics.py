"""sys/metrics over real HTTP, counting the lease events of a recording engine exactly."""

from __future__ import annotations

import json

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.core import CoreSettings
from mount.http.app import create_app
from mount.metrics import PROMETHEUS_CONTENT_TYPE
from mount.storage.store import MemoryStore
from tests.noop_backend import NoopEngine, NoopRole
from tests.waiting import wait_until

ROOT = "root-token-for-metrics"
HEADERS = {"X-Vault-Token": ROOT}


@pytest.fixture
async def broker(aiohttp_client):
    engine = NoopEngine(roles={"a": NoopRole(), "short": NoopRole(ttl=1, max_ttl=5)})
    core = await build_core(
        BrokerOptions(
            store=MemoryStore(),
            settings=CoreSettings().with_leases(revoke_backoff_base=0.05, max_revoke_attempts=3),
            engines=[EngineMount("noop/", "noop", engine.factory)],
        )
    )
    await ensure_root_token(core, ROOT)
    client = await aiohttp_client(create_app(core))
    return client, core, engine


async def scrape(client) -> dict[str, dict[tuple, float]]:
    response = await client.get("/v1/sys/metrics?format=prometheus", headers=HEADERS)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == PROMETHEUS_CONTENT_TYPE
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def creds(client, role: str = "a") -> str:
    response = await client.get(f"/v1/noop/creds/{role}", headers=HEADERS)
    assert response.status == 200, await response.text()
    return (await response.json())["lease_id"]


async def put(client, path: str, body: dict) -> int:
    response = await client.put(f"/v1/{path}", json=body, headers=HEADERS)
    return response.status


async def test_lease_events_are_counted_exactly(broker):
    client, core, engine = broker
    first, second, third = [await creds(client) for _ in range(3)]
    assert await put(client, "sys/leases/renew", {"lease_id": first}) == 200
    assert await put(client, "sys/leases/renew", {"lease_id": first, "increment": 30}) == 200
    assert await put(client, "sys/leases/revoke", {"lease_id": first}) == 204

    engine.fail_revokes = 1  # one retry, then gone
    assert await put(client, "sys/leases/revoke", {"lease_id": second, "sync": False}) == 202
    await wait_until(lambda: core.leases.get(second) is None, timeout=5)

    engine.refuse_revokes = True  # parked at once, then forced out by an operator
    assert await put(client, "sys/leases/revoke", {"lease_id": third, "sync": False}) == 202
    await wait_until(lambda: len(core.leases.irrevocable()) == 1, timeout=5)
    parked = await scrape(client)
    assert parked["entra_broker_leases_irrevocable"][(("mount", "noop/"), ("role", "a"))] == 1
    assert await put(client, "sys/leases/revoke-force/noop/creds/a", {}) == 204
    engine.refuse_revokes = False

    expiring = await creds(client, "short")
    await wait_until(lambda: core.leases.get(expiring) is None, timeout=5)

    found = await scrape(client)
    a, short = (("mount", "noop/"), ("role", "a")), (("mount", "noop/"), ("role", "short"))
    assert found["entra_broker_creds_issued_total"] == {a: 3, short: 1}
    assert found["entra_broker_lease_renewals_total"] == {a: 2}
    assert found["entra_broker_revocations_total"] == {
        (("mount", "noop/"), ("result", result)): count
        for result, count in {"ok": 3, "retried": 1, "irrevocable": 1, "forced": 1}.items()
    }
    assert found["entra_broker_leases_active"] == {a: 0, short: 0}
    assert found["entra_broker_leases_irrevocable"] == {a: 0, short: 0}
    assert found["entra_broker_expiry_lag_seconds_count"] == {(("mount", "noop/"),): 1}
    assert 0 <= found["entra_broker_expiry_lag_seconds_sum"][(("mount", "noop/"),)] < 2
    # Four creds reads and the earlier scrape; a scrape is counted once it is answered.
    assert found["entra_broker_requests_total"][(("method", "GET"), ("status", "200"))] == 5
    assert found["entra_broker_requests_total"][(("method", "PUT"), ("status", "202"))] == 2


async def test_json_form_shows_the_same_numbers(broker):
    client, _, _ = broker
    lease_id = await creds(client)
    await creds(client)
    assert await put(client, "sys/leases/revoke", {"lease_id": lease_id}) == 204

    response = await client.get("/v1/sys/metrics", headers=HEADERS)
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    body = json.loads(await response.text())
    assert list(body) == ["Timestamp", "Gauges", "Points", "Counters", "Samples"]
    counters = {(c["Name"], tuple(sorted(c["Labels"].items()))): c for c in body["Counters"]}
    issued = counters[("entra_broker_creds_issued_total", (("mount", "noop/"), ("role", "a")))]
    assert (issued["Count"], issued["Sum"]) == (2, 2.0)
    revoked = counters[("entra_broker_revocations_total", (("mount", "noop/"), ("result", "ok")))]
    assert revoked["Count"] == 1
    gauges = {(g["Name"], tuple(sorted(g["Labels"].items()))): g["Value"] for g in body["Gauges"]}
    assert gauges[("entra_broker_leases_active", (("mount", "noop/"), ("role", "a")))] == 1

    found = await scrape(client)
    assert found["entra_broker_creds_issued_total"] == {(("mount", "noop/"), ("role", "a")): 2}


async def test_metrics_need_a_token_and_a_known_format(broker):
    client, _, _ = broker
    anonymous = await client.get("/v1/sys/metrics?format=prometheus")
    assert anonymous.status == 403
    assert await anonymous.json() == {"errors": ["permission denied"]}

    unknown = await client.get("/v1/sys/metrics?format=xml", headers=HEADERS)
    assert unknown.status == 400
    assert await unknown.json() == {
        "errors": [
            'metric response format "xml" unknown; use format=prometheus, or no format for JSON'
        ]
    }
    # Prometheus sends the token as a bearer token.
    bearer = await client.get(
        "/v1/sys/metrics?format=prometheus", headers={"Authorization": f"Bearer {ROOT}"}
    )
    assert bearer.status == 200
    found = await scrape(client)
    assert found["entra_broker_requests_total"][(("method", "GET"), ("status", "403"))] == 1
    assert found["entra_broker_requests_total"][(("method", "GET"), ("status", "400"))] == 1


async def test_a_prometheus_accept_header_gets_the_text_format(broker):
    client, _, _ = broker
    # What a Prometheus server sends when the scrape config sets no format parameter.
    accept = (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
        "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    )
    scraped = await client.get("/v1/sys/metrics", headers={**HEADERS, "Accept": accept})
    assert scraped.status == 200
    assert scraped.headers["Content-Type"] == PROMETHEUS_CONTENT_TYPE
    assert list(text_string_to_metric_families(await scraped.text()))
    plain = await client.get("/v1/sys/metrics", headers={**HEADERS, "Accept": "*/*"})
    assert plain.headers["Content-Type"] == "application/json"
