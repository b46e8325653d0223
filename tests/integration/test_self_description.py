"""Help and OpenAPI come from the path tables that route requests, for every mount."""

from __future__ import annotations

import re

import pytest

import plugin
from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.http.app import create_app
from mount.sdk.logical import Operation
from mount.storage.store import MemoryStore

ROOT = "root"


def _example(pattern: str) -> str:
    """A concrete request path matching a path regex (parameters become `x`)."""
    text = re.sub(r"\(\?:/\(\?P<\w+>[^)]*\)\)\?", "", pattern)  # optional URL parameter
    text = re.sub(r"\(\?P<\w+>(?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)", "x", text)
    return text.replace("/?", "/").replace("\\", "")


@pytest.fixture
async def setup(aiohttp_client):
    core = await build_core(
        BrokerOptions(store=MemoryStore(), engines=[EngineMount("entra/", "entra", plugin.factory)])
    )
    await ensure_root_token(core, ROOT)
    await core.handle_internal(Operation.UPDATE, "sys/auth/approle", {"type": "approle"}, ROOT)
    return core, await aiohttp_client(create_app(core))


async def test_every_path_answers_help(setup):
    core, client = setup
    checked = 0
    for entry in core.mounts.entries():
        for spec in entry.backend.paths:
            path = entry.path + _example(spec.pattern)
            assert re.fullmatch(spec.pattern, path[len(entry.path) :]), path
            response = await client.get(f"/v1/{path}?help=1", headers={"X-Vault-Token": ROOT})
            assert response.status == 200, (path, await response.text())
            body = await response.json()
            assert body["help"].startswith(f"Request:        {path[len(entry.path) :]}")
            assert spec.help_synopsis in body["help"]
            assert body["openapi"]["paths"], path
            checked += 1
    assert checked >= 30


async def test_openapi_lists_every_routed_path(setup):
    core, client = setup
    response = await client.get("/v1/sys/internal/specs/openapi", headers={"X-Vault-Token": ROOT})
    document = await response.json()
    assert document["openapi"].startswith("3.")
    for entry in core.mounts.entries():
        for url in entry.backend.openapi_paths():
            assert "/" + entry.path.rstrip("/") + url in document["paths"]
    assert "/entra/creds/{name}" in document["paths"]
    assert "get" in document["paths"]["/entra/creds/{name}"]
    assert "/entra/roles/{name}" in document["paths"]


async def test_openapi_lists_both_forms_of_the_lease_paths_and_declares_every_answer(setup):
    _, client = setup
    response = await client.get("/v1/sys/internal/specs/openapi", headers={"X-Vault-Token": ROOT})
    document = await response.json()
    paths = document["paths"]
    # The body forms (the lease id in the body) as well as the URL forms.
    for base in ("/sys/leases/renew", "/sys/leases/revoke", "/sys/renew", "/sys/revoke"):
        assert "post" in paths[base], base
        assert "post" in paths[base + "/{url_lease_id}"], base
        assert "url_lease_id" not in str(paths[base].get("parameters", [])), base
    schemas = document["components"]["schemas"]
    assert set(schemas["VaultResponse"]["required"]) >= {"request_id", "lease_id", "data"}
    assert schemas["VaultErrors"]["required"] == ["errors"]
    operations = [
        (url, method, op)
        for url, item in paths.items()
        for method, op in item.items()
        if method in ("get", "post", "delete", "patch")
    ]
    assert len(operations) >= 60
    for url, method, op in operations:
        responses = op["responses"]
        assert "application/json" in responses["200"]["content"], (url, method)
        assert responses["4XX"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/VaultErrors"
        }, (url, method)
    health = paths["/sys/health"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "initialized" in health["schema"]["required"]
