"""Response wrapping over real HTTP with a recording engine: what the cubbyhole holds (the
answer's JSON under `response`, as Vault stores it), that it goes with its token, that a
wrapped credential's lease is live, that concurrent unwraps give the answer once, and
that a wrapped token (a login) carries its accessor."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest

from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.core import Core
from mount.http.app import create_app
from mount.storage.memory import MemoryStore
from tests.noop_backend import NoopEngine

ROOT = "root-token-for-wrapping-tests"
WRAP = {"X-Vault-Wrap-TTL": "5m"}


@dataclass
class Harness:
    client: Any
    core: Core
    store: MemoryStore
    engine: NoopEngine

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        token: str = ROOT,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        response = await self.client.request(
            method, f"/v1/{path}", json=json, headers={"X-Vault-Token": token, **(headers or {})}
        )
        text = await response.text()
        return response.status, (await response.json() if text.strip() else None)

    async def cubbyhole(self, accessor: str) -> list[str]:
        return await self.store.list(f"sys/cubbyhole/{accessor}/")


@pytest.fixture
async def broker(aiohttp_client: Any) -> Harness:
    engine = NoopEngine()
    store = MemoryStore()
    core = await build_core(
        BrokerOptions(store=store, engines=[EngineMount("noop/", "noop", engine.factory)])
    )
    await ensure_root_token(core, ROOT)
    client = await aiohttp_client(create_app(core))
    return Harness(client, core, store, engine)


async def test_the_cubbyhole_holds_the_answer_as_vault_stores_it(broker: Harness) -> None:
    status, body = await broker.call("GET", "noop/creds/a", headers=WRAP)
    assert status == 200, body
    info = body["wrap_info"]
    assert body["data"] is None and body["lease_id"] == ""
    assert sorted(await broker.cubbyhole(info["accessor"])) == ["response", "wrapinfo"]
    stored = await broker.store.get(f"sys/cubbyhole/{info['accessor']}/response")
    assert isinstance(stored, str)  # the JSON text of the whole envelope
    envelope = json.loads(stored)
    assert list(envelope) == [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ]
    assert envelope["request_id"] == body["request_id"]
    wrapinfo = await broker.store.get(f"sys/cubbyhole/{info['accessor']}/wrapinfo")
    assert wrapinfo == {
        "creation_ttl": 300,
        "creation_time": info["creation_time"],
        "creation_path": "noop/creds/a",
    }

    # The lease exists already, under the requesting token, before anyone unwraps.
    status, leases = await broker.call("LIST", "sys/leases/lookup/noop/creds/a/")
    assert status == 200 and ["noop/creds/a/" + k for k in leases["data"]["keys"]] == [
        envelope["lease_id"]
    ]
    status, unwrapped = await broker.call("POST", "sys/wrapping/unwrap", token=info["token"])
    assert status == 200 and unwrapped == envelope
    assert await broker.cubbyhole(info["accessor"]) == []


async def test_revoking_a_wrapping_token_drops_its_cubbyhole(broker: Harness) -> None:
    _, body = await broker.call("POST", "sys/wrapping/wrap", json={"x": "y"}, headers=WRAP)
    accessor = body["wrap_info"]["accessor"]
    assert len(await broker.cubbyhole(accessor)) == 2
    status, _ = await broker.call("POST", "auth/token/revoke-accessor", json={"accessor": accessor})
    assert status == 204
    assert await broker.cubbyhole(accessor) == []
    status, answer = await broker.call(
        "POST", "sys/wrapping/unwrap", json={"token": body["wrap_info"]["token"]}
    )
    assert status == 400 and answer == {"errors": ["wrapping token is not valid or does not exist"]}


async def test_concurrent_unwraps_give_the_answer_once(broker: Harness) -> None:
    _, body = await broker.call("POST", "sys/wrapping/wrap", json={"x": "y"}, headers=WRAP)
    token = body["wrap_info"]["token"]
    third_party = [
        broker.call("POST", "sys/wrapping/unwrap", json={"token": token}) for _ in range(4)
    ]
    first_party = [broker.call("POST", "sys/wrapping/unwrap", token=token) for _ in range(4)]
    results = await asyncio.gather(*third_party, *first_party)
    served = [answer for status, answer in results if status == 200]
    assert len(served) == 1 and served[0]["data"] == {"x": "y"}
    assert all(status in (400, 403) for status, _ in results if status != 200)


async def test_a_wrapped_token_carries_its_accessor(broker: Harness) -> None:
    status, body = await broker.call(
        "POST", "auth/token/create", json={"policies": ["default"], "ttl": "1h"}, headers=WRAP
    )
    assert status == 200 and body["auth"] is None
    info = body["wrap_info"]
    status, unwrapped = await broker.call(
        "POST", "sys/wrapping/unwrap", json={"token": info["token"]}
    )
    assert status == 200
    assert info["wrapped_accessor"] == unwrapped["auth"]["accessor"]
    status, me = await broker.call(
        "GET", "auth/token/lookup-self", token=unwrapped["auth"]["client_token"]
    )
    assert status == 200 and me["data"]["policies"] == ["default"]


async def test_the_response_wrapping_policy_is_built_in(broker: Harness) -> None:
    status, body = await broker.call(
        "PUT", "sys/policies/acl/response-wrapping", json={"policy": 'path "*" {}'}
    )
    assert status == 400 and body == {"errors": ['cannot update "response-wrapping" policy']}
    status, body = await broker.call("DELETE", "sys/policies/acl/response-wrapping")
    assert status == 400
