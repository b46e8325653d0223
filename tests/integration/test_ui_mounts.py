"""The dashboard over several mounts: every mount of the Entra engine, no other engine's."""

from __future__ import annotations

import re

import pytest

import plugin
from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.http.app import create_app
from mount.storage.store import MemoryStore
from tests.noop_backend import NoopEngine

ROOT = "root"


@pytest.fixture
async def client(aiohttp_client):
    core = await build_core(
        BrokerOptions(
            store=MemoryStore(),
            engines=[
                EngineMount("entra/", "entra", plugin.factory),
                EngineMount("entra-eu/", "entra", plugin.factory, "the EU tenant"),
                EngineMount("noop/", "noop", NoopEngine().factory),
            ],
        )
    )
    await ensure_root_token(core, ROOT)
    return await aiohttp_client(create_app(core))


async def sign_in(client) -> None:
    form = await (await client.get("/ui/signin")).text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    origin = str(client.make_url("/")).rstrip("/")
    signed = await client.post(
        "/ui/signin",
        data={"csrf_token": csrf, "token": ROOT},
        headers={"Origin": origin},
        allow_redirects=False,
    )
    assert signed.status == 303 and signed.headers["Location"] == "/ui/"


async def test_every_entra_mount_is_listed_and_no_other(client) -> None:
    await sign_in(client)
    page = await (await client.get("/ui/")).text()
    assert 'href="/ui/mounts/entra/"' in page
    assert 'href="/ui/mounts/entra-eu/"' in page and "the EU tenant" in page
    assert "noop" not in page
    # Each mount's page is its own; another engine's mount is not the dashboard's.
    eu = await client.get("/ui/mounts/entra-eu/")
    assert eu.status == 200 and "Roles of entra-eu/" in await eu.text()
    assert "No roles yet." in await eu.text()
    noop = await client.get("/ui/mounts/noop/")
    assert noop.status == 404
    assert "no Entra engine mount noop/" in await noop.text()
