"""The secrets engine table in-process: the dashboard sees an enabled mount, the stored
table and the mount's data follow enable and disable, the registry decides the types."""

from __future__ import annotations

import re
from typing import Any

import pytest

import plugin
from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.core import Core
from mount.http.app import create_app
from mount.sdk.logical import Operation
from mount.storage.memory import MemoryStore
from mount.sys.engines import ENGINE_TABLE_KEY
from tests.noop_backend import NoopEngine

ROOT = "root"
HEADERS = {"X-Vault-Token": ROOT}
UPDATE = Operation.UPDATE


async def build(store: MemoryStore, **options: Any) -> Core:
    core = await build_core(
        BrokerOptions(
            store=store, engines=[EngineMount("entra/", "entra", plugin.factory)], **options
        )
    )
    await ensure_root_token(core, ROOT)
    return core


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


async def sign_in(client: Any) -> None:
    form = await (await client.get("/ui/signin")).text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    origin = str(client.make_url("/")).rstrip("/")
    signed = await client.post(
        "/ui/signin",
        data={"csrf_token": csrf, "token": ROOT},
        headers={"Origin": origin},
        allow_redirects=False,
    )
    assert signed.status == 303


async def test_an_enabled_mount_shows_on_the_dashboard_and_goes_at_disable(
    aiohttp_client: Any, store: MemoryStore
) -> None:
    client = await aiohttp_client(create_app(await build(store)))
    enabled = await client.post(
        "/v1/sys/mounts/entra-prod",
        json={"type": "entra", "description": "production tenant"},
        headers=HEADERS,
    )
    assert enabled.status == 204, await enabled.text()
    await sign_in(client)
    page = await (await client.get("/ui/")).text()
    assert 'href="/ui/mounts/entra-prod/"' in page and "production tenant" in page
    assert 'href="/ui/mounts/entra/"' in page
    prod = await client.get("/ui/mounts/entra-prod/")
    assert prod.status == 200 and "Roles of entra-prod/" in await prod.text()

    # What the engine stored (its config and roles live in its view).
    await store.view("logical/entra-prod/").put("roles/bob", {"user_principal_name": "b"})
    await store.put("logical/entra-prodx/kept", {"other": True})
    table = await store.get(ENGINE_TABLE_KEY)
    assert [m["path"] for m in table["mounts"]] == ["entra/", "entra-prod/"]
    assert table["defaults"] == ["entra/"]

    disabled = await client.delete("/v1/sys/mounts/entra-prod", headers=HEADERS)
    assert disabled.status == 204
    assert await store.list("logical/entra-prod/") == []
    assert await store.get("logical/entra-prodx/kept") == {"other": True}
    assert [m["path"] for m in (await store.get(ENGINE_TABLE_KEY))["mounts"]] == ["entra/"]
    page = await (await client.get("/ui/")).text()
    assert "entra-prod/" not in page
    # Disabling what is not mounted succeeds too, as in Vault.
    again = await client.delete("/v1/sys/mounts/entra-prod", headers=HEADERS)
    assert again.status == 204


async def test_the_types_are_the_registrys(aiohttp_client: Any, store: MemoryStore) -> None:
    core = await build(store, engine_types={"entra": plugin.factory, "noop": NoopEngine().factory})
    client = await aiohttp_client(create_app(core))
    ok = await client.post("/v1/sys/mounts/n", json={"type": "noop"}, headers=HEADERS)
    assert ok.status == 204, await ok.text()
    refused = await client.post("/v1/sys/mounts/k", json={"type": "kv"}, headers=HEADERS)
    assert refused.status == 400
    (error,) = (await refused.json())["errors"]
    assert error.endswith("available types: entra, noop")


async def test_a_restart_restores_the_table_without_doubling_the_default(
    store: MemoryStore,
) -> None:
    first = await build(store)
    await first.handle_internal(UPDATE, "sys/mounts/entra-eu", {"type": "entra"}, ROOT)
    await first.handle_internal(
        UPDATE, "sys/mounts/entra-eu/tune", {"default_lease_ttl": "15m"}, ROOT
    )
    accessor = first.mounts.get("entra-eu/").accessor
    await first.leases.stop_restore()

    second = await build(store)
    eu = second.mounts.get("entra-eu/")
    assert eu is not None and eu.accessor == accessor and eu.default_lease_ttl == 900
    assert [e.path for e in second.mounts.entries() if e.type == "entra"] == [
        "entra/",
        "entra-eu/",
    ]
    # The engine was built with the mount's TTL.
    assert eu.backend.conf.default_lease_ttl.total_seconds() == 900  # type: ignore[attr-defined]
    await second.leases.stop_restore()
