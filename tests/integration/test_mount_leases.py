"""The core's lease API over real HTTP, with a recording engine (mount/leases/)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import pytest

from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.core import Core, CoreSettings
from mount.http.app import create_app
from mount.storage.memory import MemoryStore
from tests.noop_backend import NoopEngine, NoopRole
from tests.waiting import wait_until

ROOT = "root-token-for-tests"
LEASE_RE = re.compile(r"^noop/creds/a/[A-Za-z0-9]{24}$")


@dataclass
class Harness:
    client: object
    core: Core
    engine: NoopEngine

    def h(self, token: str = ROOT) -> dict[str, str]:
        return {"X-Vault-Token": token}

    async def call(self, method: str, path: str, *, json=None, token: str = ROOT, **kw):
        response = await self.client.request(
            method, f"/v1/{path}", json=json, headers=self.h(token), **kw
        )
        text = await response.text()
        return response.status, text

    async def creds(self, role: str = "a") -> dict:
        response = await self.client.get(f"/v1/noop/creds/{role}", headers=self.h())
        assert response.status == 200, await response.text()
        return await response.json()


@pytest.fixture
async def broker(aiohttp_client):
    engine = NoopEngine()
    core = await build_core(
        BrokerOptions(
            store=MemoryStore(),
            settings=CoreSettings().with_leases(revoke_backoff_base=0.05, max_revoke_attempts=3),
            engines=[EngineMount("noop/", "noop", engine.factory)],
        )
    )
    await ensure_root_token(core, ROOT)
    client = await aiohttp_client(create_app(core))
    return Harness(client, core, engine)


async def test_creds_envelope_has_vault_fields_in_order(broker):
    body = await broker.creds()
    assert list(body) == [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ]
    assert LEASE_RE.match(body["lease_id"])
    assert body["renewable"] is True
    assert body["lease_duration"] == 60
    assert body["data"] == {"credential": "cred-1"}
    assert body["warnings"] is None and body["auth"] is None


async def test_lookup_shape_and_errors(broker):
    lease_id = (await broker.creds())["lease_id"]
    status, text = await broker.call("PUT", "sys/leases/lookup", json={"lease_id": lease_id})
    assert status == 200
    import json

    data = json.loads(text)["data"]
    assert list(data) == [
        "expire_time",
        "id",
        "issue_time",
        "last_renewal",
        "path",
        "renewable",
        "ttl",
    ]
    assert data["path"] == "noop/creds/a" and data["last_renewal"] is None
    assert data["ttl"] in (59, 60)
    assert data["expire_time"].endswith("Z")
    cases = [
        ({"lease_id": "noop/creds/a/nope"}, 400, '{"errors":["invalid lease"]}\n'),
        ({}, 400, '{"errors":["lease_id must be specified"]}\n'),
        ({"lease_id": ""}, 400, '{"errors":["lease_id must be specified"]}\n'),
        ({"lease_id": 123}, 400, '{"errors":["invalid lease ID"]}\n'),
        ({"lease_id": ["a"]}, 400, '{"errors":["invalid lease ID"]}\n'),
    ]
    for body, want_status, want_text in cases:
        assert await broker.call("PUT", "sys/leases/lookup", json=body) == (want_status, want_text)
    status, text = await broker.call("GET", "sys/leases/lookup")
    assert (status, text) == (
        405,
        '{"errors":["1 error occurred:\\n\\t* unsupported operation\\n\\n"]}\n',
    )


async def test_renew_follows_vault_ttl_rules(broker):
    import json

    lease_id = (await broker.creds())["lease_id"]
    status, text = await broker.call(
        "PUT", "sys/leases/renew", json={"lease_id": lease_id, "increment": 0}
    )
    body = json.loads(text)
    assert status == 200 and body["lease_duration"] == 60 and body["data"] is None
    assert body["lease_id"] == lease_id and body["renewable"] is True
    status, text = await broker.call(
        "PUT", f"sys/leases/renew/{lease_id}", json={"increment": "5s"}
    )
    assert json.loads(text)["lease_duration"] == 5
    status, text = await broker.call(
        "PUT", "sys/leases/renew", json={"lease_id": lease_id, "increment": "1h"}
    )
    body = json.loads(text)
    assert status == 200
    assert body["lease_duration"] in (299, 300)
    cap = body["lease_duration"]
    assert body["warnings"] == [
        f'TTL of "1h" exceeded the effective max_ttl of "{cap // 60}m{cap % 60}s"; '
        "TTL value is capped accordingly".replace("m0s", "m")
    ]
    status, text = await broker.call("PUT", "sys/leases/lookup", json={"lease_id": lease_id})
    assert json.loads(text)["data"]["last_renewal"] is not None
    assert await broker.call("PUT", "sys/leases/renew", json={"lease_id": "noop/creds/a/x"}) == (
        400,
        '{"errors":["lease not found"]}\n',
    )
    status, text = await broker.call(
        "PUT", "sys/leases/renew", json={"lease_id": lease_id, "increment": "bogus"}
    )
    assert (status, text) == (
        400,
        '{"errors":["Field validation failed: error converting '
        'input for field \\"increment\\": time: invalid duration '
        '\\"bogus\\""]}\n',
    )


async def test_renew_past_max_ttl_fails_with_vault_error(broker):
    broker.engine.roles["a"] = NoopRole(ttl=1, max_ttl=1)
    lease_id = (await broker.creds())["lease_id"]
    lease = broker.core.leases.get(lease_id)
    # Move the issue time back instead of waiting out the max TTL.
    from dataclasses import replace

    broker.core.leases._table.remember(
        replace(lease, issue_time=lease.issue_time - 5, expire_time=lease.expire_time + 5)
    )
    status, text = await broker.call("PUT", "sys/leases/renew", json={"lease_id": lease_id})
    assert status == 400
    assert "past the max TTL, cannot renew" in text


async def test_revoke_sync_async_and_unknown(broker):
    first = (await broker.creds())["lease_id"]
    assert await broker.call("PUT", f"sys/leases/revoke/{first}") == (204, "")
    assert broker.engine.revoked == ["cred-1"]
    second = (await broker.creds())["lease_id"]
    status, text = await broker.call(
        "PUT", "sys/leases/revoke", json={"lease_id": second, "sync": False}
    )
    assert (status, text) == (202, "")
    await wait_until(lambda: broker.engine.revoked == ["cred-1", "cred-2"])
    assert await broker.call("PUT", "sys/leases/revoke", json={"lease_id": "noop/x/y"}) == (204, "")
    assert broker.core.leases.get(first) is None and broker.core.leases.get(second) is None


async def test_list_and_revoke_prefix(broker):
    import json

    ids = sorted([(await broker.creds())["lease_id"] for _ in range(3)])
    response = await broker.client.request(
        "LIST", "/v1/sys/leases/lookup/noop/creds/a/", headers=broker.h()
    )
    assert response.status == 200
    assert (await response.json())["data"]["keys"] == sorted(i.rsplit("/", 1)[1] for i in ids)
    status, text = await broker.call("GET", "sys/leases/lookup/noop/creds?list=true")
    assert json.loads(text)["data"]["keys"] == ["a/"]
    assert await broker.call("PUT", "sys/leases/revoke-prefix/noop/creds/a/") == (
        400,
        '{"errors":["cannot write to a path ending in \'/\'"]}\n',
    )
    assert await broker.call("PUT", "sys/leases/revoke-prefix/noop/creds/a") == (204, "")
    assert len(broker.engine.revoked) == 3
    assert await broker.call("LIST", "sys/leases/lookup/noop/creds/a") == (404, '{"errors":[]}\n')


async def test_expired_lease_is_revoked_promptly(broker):
    broker.engine.roles["a"] = NoopRole(ttl=1, max_ttl=10)
    body = await broker.creds()
    lease = broker.core.leases.get(body["lease_id"])
    took = await wait_until(lambda: broker.engine.revoked == ["cred-1"], timeout=4)
    assert took < 2.0
    assert broker.core.leases.get(lease.lease_id) is None


async def test_failed_revocation_retries_then_parks_irrevocable(broker):
    import json

    broker.engine.fail_revokes = 10
    lease_id = (await broker.creds())["lease_id"]
    status, _ = await broker.call(
        "PUT", "sys/leases/revoke", json={"lease_id": lease_id, "sync": False}
    )
    assert status == 202
    await wait_until(lambda: broker.core.leases.irrevocable() != [], timeout=5)
    status, text = await broker.call("GET", "sys/leases?type=irrevocable")
    listed = json.loads(text)["data"]
    assert listed["lease_count"] == 1
    assert listed["leases"][0]["lease_id"] == lease_id
    # Shown as irrevocable past the attempt count, and still scheduled for retries.
    error = listed["leases"][0]["error"]
    assert re.fullmatch(r"failed [3-9] times, retrying: upstream unavailable", error), error
    assert broker.core.leases.get(lease_id).revoke_at is not None
    status, text = await broker.call("GET", "sys/leases/count?type=irrevocable")
    assert json.loads(text)["data"]["lease_count"] == 1
    assert await broker.call("GET", "sys/leases/count") == (404, '{"errors":[]}\n')
    status, text = await broker.call("PUT", "sys/leases/renew", json={"lease_id": lease_id})
    assert "failed previous revocation attempts" in text
    assert await broker.call("PUT", f"sys/leases/revoke-force/{lease_id}") == (204, "")
    assert broker.core.leases.get(lease_id) is None


async def test_issue_failures_leave_nothing_behind(broker):
    broker.engine.fail_issue = "definite"
    status, text = await broker.call("GET", "noop/creds/a")
    assert status == 502 and "upstream refused" in text
    assert list(broker.core.leases.all()) == []
    broker.engine.fail_issue = "ambiguous"
    status, _ = await broker.call("GET", "noop/creds/a")
    assert status == 502
    # The credential may exist, so its lease is revoked rather than dropped.
    await wait_until(lambda: broker.engine.live == set() and not list(broker.core.leases.all()))
    assert broker.engine.revoked == ["cred-2"]


async def test_rotate_mode_keeps_one_live_lease_under_concurrency(broker):
    broker.engine.roles["a"] = NoopRole(mode="rotate")
    results = await asyncio.gather(*(broker.creds() for _ in range(20)))
    ids = {r["lease_id"] for r in results}
    assert len(ids) == 20
    live = [le for le in broker.core.leases.all()]
    assert len(live) == 1
    # The survivor is the lease whose credential was issued last.
    assert live[0].internal["credential"] == broker.engine.issued[-1]
    assert broker.engine.revoked == []  # superseded leases do not touch the upstream


async def test_tidy_answers_202_with_warning(broker):
    import json

    status, text = await broker.call("POST", "sys/leases/tidy")
    body = json.loads(text)
    assert status == 202 and body["data"] is None
    assert body["warnings"][0].startswith("Tidy operation successfully started.")


async def test_an_irrevocable_lease_is_revoked_by_its_own_retry(broker):
    broker.engine.fail_revokes = 3
    lease_id = (await broker.creds())["lease_id"]
    await broker.call("PUT", "sys/leases/revoke", json={"lease_id": lease_id, "sync": False})
    await wait_until(lambda: broker.core.leases.irrevocable() != [], timeout=5)
    # The upstream answers again: the next scheduled attempt succeeds, nobody asks twice
    # (a queued revoke meanwhile joins that attempt).
    assert await broker.call(
        "PUT", "sys/leases/revoke", json={"lease_id": lease_id, "sync": False}
    ) == (202, "")
    await wait_until(lambda: broker.core.leases.get(lease_id) is None, timeout=5)
    assert broker.engine.revoked == ["cred-1"]


async def _limited_client(aiohttp_client, roles, **settings):
    """A broker with the given CoreSettings limits and a recording engine with `roles`."""
    from mount.core import CoreSettings

    engine = NoopEngine(roles={name: NoopRole() for name in roles})
    core = await build_core(
        BrokerOptions(
            store=MemoryStore(),
            settings=CoreSettings().with_leases(**settings),
            engines=[EngineMount("noop/", "noop", engine.factory)],
        )
    )
    await ensure_root_token(core, ROOT)
    return engine, await aiohttp_client(create_app(core))


async def test_a_permanent_refusal_parks_the_lease_at_once(broker):
    import json

    broker.engine.refuse_revokes = True
    lease_id = (await broker.creds())["lease_id"]
    status, _ = await broker.call(
        "PUT", "sys/leases/revoke", json={"lease_id": lease_id, "sync": False}
    )
    assert status == 202
    await wait_until(lambda: broker.core.leases.irrevocable() != [], timeout=5)
    lease = broker.core.leases.get(lease_id)
    assert lease.revoke_attempts == 1
    status, text = await broker.call("GET", "sys/leases?type=irrevocable")
    error = json.loads(text)["data"]["leases"][0]["error"]
    assert error == "not retryable, retried every 10m: upstream denied the reset"
    assert broker.core.leases.get(lease_id).revoke_at is not None  # retried slowly


async def test_lease_count_quotas_per_role_and_mount(aiohttp_client):
    _, client = await _limited_client(
        aiohttp_client, "abc", max_leases_per_role=2, max_leases_per_mount=3
    )
    headers = {"X-Vault-Token": ROOT}

    async def read(role):
        response = await client.get(f"/v1/noop/creds/{role}", headers=headers)
        return response.status, await response.json(), response.headers

    first = [await read("a") for _ in range(2)]
    assert [s for s, _, _ in first] == [200, 200]
    status, body, headers_ = await read("a")
    assert status == 429 and "Retry-After" in headers_
    assert (
        "noop/creds/a already has 2 active leases and max_leases_per_role is 2"
        in (body["errors"][0])
    )
    assert (await read("b"))[0] == 200
    status, body, _ = await read("c")
    assert status == 429 and "max_leases_per_mount is 3" in body["errors"][0]
    # A revoked lease frees its place in both counts.
    lease_id = first[0][1]["lease_id"]
    revoked = await client.put(
        "/v1/sys/leases/revoke", json={"lease_id": lease_id}, headers=headers
    )
    assert revoked.status == 204
    assert (await read("c"))[0] == 200
