"""HTTP rules of the Vault API: auth, verbs, bodies, error shapes, sys endpoints."""

from __future__ import annotations

import json

import pytest

from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.http.app import create_app
from mount.storage.store import MemoryStore
from tests.noop_backend import NoopEngine

ROOT = "root"
UNSUPPORTED_PATH = '{"errors":["1 error occurred:\\n\\t* unsupported path\\n\\n"]}\n'


@pytest.fixture
async def client(aiohttp_client):
    engine = NoopEngine()
    core = await build_core(
        BrokerOptions(store=MemoryStore(), engines=[EngineMount("noop/", "noop", engine.factory)])
    )
    await ensure_root_token(core, ROOT)
    return await aiohttp_client(create_app(core, max_body_bytes=4096))


async def _call(client, method, path, *, headers=None, data=None):
    response = await client.request(method, f"/v1/{path}", headers=headers, data=data)
    return response.status, await response.text(), response.headers


async def test_token_required_and_both_header_forms(client):
    assert (await _call(client, "GET", "auth/token/lookup-self"))[:2] == (
        403,
        '{"errors":["permission denied"]}\n',
    )
    wrong = await _call(client, "GET", "auth/token/lookup-self", headers={"X-Vault-Token": "x"})
    assert wrong[:2] == (403, '{"errors":["permission denied"]}\n')
    basic = await _call(
        client, "GET", "auth/token/lookup-self", headers={"Authorization": "Basic cm9vdDo="}
    )
    assert basic[0] == 403
    status, text, headers = await _call(
        client, "GET", "auth/token/lookup-self", headers={"Authorization": "Bearer root"}
    )
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    data = json.loads(text)["data"]
    assert data["id"] == "root" and data["policies"] == ["root"] and data["ttl"] == 0
    assert data["expire_time"] is None and data["type"] == "service"
    both = await _call(
        client,
        "GET",
        "auth/token/lookup-self",
        headers={"X-Vault-Token": "root", "Authorization": "Bearer nope"},
    )
    assert both[0] == 200


async def test_root_token_cannot_renew_itself(client):
    status, text, _ = await _call(
        client, "POST", "auth/token/renew-self", headers={"X-Vault-Token": ROOT}, data="{}"
    )
    assert (status, text) == (400, '{"errors":["lease is not renewable"]}\n')


async def test_child_token_lookup_and_renew(client):
    status, text, _ = await _call(
        client,
        "POST",
        "auth/token/create",
        headers={"X-Vault-Token": ROOT},
        data=json.dumps({"policies": ["agent-app"], "ttl": "30s", "renewable": True}),
    )
    auth = json.loads(text)["auth"]
    assert status == 200 and auth["policies"] == ["agent-app", "default"]
    assert auth["lease_duration"] == 30 and auth["renewable"] is True
    token = auth["client_token"]
    assert token.startswith("s.") and len(token) == 26
    status, text, _ = await _call(
        client,
        "PUT",
        "auth/token/renew-self",
        headers={"X-Vault-Token": token},
        data='{"increment":0}',
    )
    assert status == 200 and json.loads(text)["auth"]["lease_duration"] == 30
    status, _, _ = await _call(
        client, "POST", "auth/token/revoke-self", headers={"X-Vault-Token": token}
    )
    assert status == 204
    assert (await _call(client, "GET", "auth/token/lookup-self", headers={"X-Vault-Token": token}))[
        0
    ] == 403


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "{bad",
            "failed to decode JSON input: invalid character 'b' looking for beginning of value",
        ),
        (
            '{"a": "x",}',
            "failed to decode JSON input: invalid character ',' looking for beginning of value",
        ),
        (
            '{"a":"x"} trailing',
            "failed to decode JSON input: invalid character 'a' in literal true (expecting 'u')",
        ),
        (
            "bogus",
            "failed to decode JSON input: invalid character 'b' looking for beginning of value",
        ),
        (
            "[1,2]",
            "failed to decode JSON input: json: cannot unmarshal array into Go value "
            "of type map[string]interface {}",
        ),
        (
            '"x"',
            "failed to decode JSON input: json: cannot unmarshal string into Go value "
            "of type map[string]interface {}",
        ),
        ('{"a":', "failed to decode JSON input: unexpected EOF"),
    ],
)
async def test_bad_bodies_get_400_with_sentence(client, body, message):
    status, text, _ = await _call(
        client, "PUT", "sys/leases/lookup", headers={"X-Vault-Token": ROOT}, data=body
    )
    assert status == 400
    assert json.loads(text) == {"errors": [message]}


async def test_huge_body_and_deep_nesting_are_4xx(client):
    status, text, _ = await _call(
        client,
        "PUT",
        "sys/leases/lookup",
        headers={"X-Vault-Token": ROOT},
        data="{" + " " * 8000 + "}",
    )
    assert status == 413 and "bytes allowed" in json.loads(text)["errors"][0]
    deep = '{"a":' + "[" * 1500 + "]" * 1500 + "}"
    status, text, _ = await _call(
        client, "PUT", "sys/leases/lookup", headers={"X-Vault-Token": ROOT}, data=deep
    )
    assert status == 400


async def test_form_body_only_with_its_content_type(client):
    headers = {"X-Vault-Token": ROOT, "Content-Type": "application/x-www-form-urlencoded"}
    status, text, _ = await _call(
        client, "PUT", "sys/leases/lookup", headers=headers, data="lease_id=noop/creds/a/x"
    )
    assert (status, json.loads(text)) == (400, {"errors": ["invalid lease"]})


async def test_routing_errors(client):
    root = {"X-Vault-Token": ROOT}
    assert (await _call(client, "GET", "nosuchmount/foo", headers=root))[:2] == (
        404,
        '{"errors":["no handler for route \\"nosuchmount/foo\\". route entry not found."]}\n',
    )
    assert (await _call(client, "GET", "sys/nope", headers=root))[:2] == (404, UNSUPPORTED_PATH)
    assert (await _call(client, "OPTIONS", "sys/health", headers=root))[:2] == (
        400,
        '{"errors":["cannot handle internal-only request operation"]}\n',
    )
    assert (await _call(client, "DELETE", "noop/creds/a", headers=root))[0] == 405


async def test_unauthenticated_sys_endpoints(client):
    status, text, _ = await _call(client, "GET", "sys/health")
    health = json.loads(text)
    assert status == 200 and health["initialized"] is True and health["sealed"] is False
    status, text, headers = await _call(client, "GET", "sys/seal-status")
    seal = json.loads(text)
    assert seal["type"] == "shamir" and seal["cluster_id"] == health["cluster_id"] != ""
    assert "Server" not in headers and headers["Content-Type"] == "application/json"
    assert (await _call(client, "GET", "sys/leader"))[1] == '{"ha_enabled":false}\n'
    status, _, _ = await _call(client, "HEAD", "sys/health")
    assert status == 200
    status, text, _ = await _call(client, "GET", "sys/internal/ui/mounts")
    assert json.loads(text)["data"] == {"auth": {}, "secret": {}}


async def test_mount_listings(client):
    root = {"X-Vault-Token": ROOT}
    status, text, _ = await _call(client, "GET", "sys/mounts", headers=root)
    body = json.loads(text)
    assert status == 200 and body["noop/"]["type"] == "noop" and "noop/" in body["data"]
    status, text, _ = await _call(
        client, "GET", "sys/internal/ui/mounts/noop/creds/a", headers=root
    )
    assert json.loads(text)["data"]["path"] == "noop/"
    status, text, _ = await _call(client, "GET", "sys/internal/ui/mounts/nosuch/x", headers=root)
    assert status == 403 and "preflight capability check returned 403" in text


async def test_help_and_openapi(client):
    root = {"X-Vault-Token": ROOT}
    status, text, _ = await _call(client, "GET", "sys/leases/renew?help=1", headers=root)
    assert status == 200 and "Renew a lease on a secret" in json.loads(text)["help"]
    status, text, _ = await _call(client, "GET", "sys/internal/specs/openapi", headers=root)
    paths = json.loads(text)["paths"]
    assert "/noop/creds/{name}" in paths and "/sys/leases/lookup" in paths
