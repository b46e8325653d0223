"""The dashboard in-process: every mount of the Entra engine and no other engine's, and
its calls audited as the API's are, under the signed-in user's token."""

from __future__ import annotations

import json
import re

import pytest

import plugin
from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.http.app import create_app
from mount.storage.memory import MemoryStore
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


async def sign_in(client, token: str = ROOT) -> None:
    form = await (await client.get("/ui/signin")).text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    origin = str(client.make_url("/")).rstrip("/")
    signed = await client.post(
        "/ui/signin",
        data={"csrf_token": csrf, "token": token},
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
    bare = await client.get("/ui/mounts/entra-eu", allow_redirects=False)
    assert (bare.status, bare.headers["Location"]) == (303, "/ui/mounts/entra-eu/")
    # A role that does not exist: said so, and nothing to Generate.
    missing = await (await client.get("/ui/mounts/entra/roles/nobody")).text()
    assert "role nobody does not exist" in missing and "Generate" not in missing
    noop = await client.get("/ui/mounts/noop/")
    assert noop.status == 404
    assert "no Entra engine mount noop/" in await noop.text()


async def test_the_dashboards_calls_are_audited_as_the_users(client, tmp_path) -> None:
    log = tmp_path / "audit.log"
    enabled = await client.put(
        "/v1/sys/audit/file",
        json={"type": "file", "options": {"file_path": str(log), "hmac_accessor": "false"}},
        headers={"X-Vault-Token": ROOT},
    )
    assert enabled.status == 204
    policy = 'path "entra/roles/" {\n  capabilities = ["list"]\n}\n'
    written = await client.put(
        "/v1/sys/policies/acl/lister", json={"policy": policy}, headers={"X-Vault-Token": ROOT}
    )
    assert written.status == 204
    created = await client.post(
        "/v1/auth/token/create",
        json={"policies": ["lister"]},
        headers={"X-Vault-Token": ROOT},
    )
    auth = (await created.json())["auth"]
    token, accessor = auth["client_token"], auth["accessor"]
    await sign_in(client, token)
    assert (await client.get("/ui/mounts/entra/")).status == 200
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    seen = [(e["type"], e["request"]["path"]) for e in entries]
    # The page's own calls, each a request and a response line, as any client's.
    for path in ("auth/token/lookup-self", "sys/internal/ui/mounts", "sys/capabilities-self"):
        assert ("request", path) in seen and ("response", path) in seen, seen
    setup = ("sys/audit/file", "sys/policies/acl/lister", "auth/token/create")
    ui_entries = [e for e in entries if e["request"]["path"] not in setup]
    assert {e["auth"]["accessor"] for e in ui_entries} == {accessor}
    assert token not in log.read_text()
