"""Control characters in request paths: refused before any route or rule runs.

A percent-encoded newline once made `entra/creds/bob%0A` route as `creds/bob` (Python's
`$` matches before a final newline) while the ACL saw a path that no exact rule
matched, so a token denied `entra/creds/bob` got bob's password under a lease id that
held the newline. Here every path of every mount (AppRole enabled too) is sent with
control characters appended, prepended and embedded, by a token whose policy denies
exactly that path (or lacks sudo where the path needs it): no variant may answer 2xx.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mount.sdk.logical import Operation
from mount.sdk.openapi import openapi_urls
from mount.tokens.wrapping import INVALID_WRAPPING_TOKEN, TOKEN_PATHS
from tests.broker_thread import BrokerThread
from tests.e2e.conftest import HTTP_TIMEOUT, Setup

CONTROLS = [chr(c) for c in range(0x20)] + ["\x7f"]
# Appended, every control character; prepended and embedded, the usual suspects.
FEW = ["\x00", "\t", "\n", "\r", "\x1b", "\x7f"]
METHODS = {
    Operation.READ: "GET",
    Operation.LIST: "LIST",
    Operation.CREATE: "PUT",
    Operation.UPDATE: "PUT",
    Operation.DELETE: "DELETE",
}
# Values for the named groups of each mount's path patterns: names that exist, so that
# the plain path would succeed for a token allowed to call it.
PARAMS = {
    ("entra/", "name"): "bob",
    ("sys/", "name"): "victim",
    ("sys/", "prefix"): "entra/creds/bob",
    ("auth/approle/", "role_name"): "r1",
    ("auth/token/", "role_name"): "r1",
    ("sys/", "step"): "update",
    ("sys/", "type"): "secret",
}
PATH_PARAMS = {
    "/mounts/{path}/tune": "entra",
    "/mounts/{path}": "entra",
    "/internal/ui/mounts/{path}": "entra",
    "/audit/{path}": "aud",
    "/audit-hash/{path}": "aud",
    "/auth/{path}": "approle",
    "/auth/{path}/tune": "approle",
    "/mounts/auth/{path}/tune": "approle",
}
VICTIM_POLICY = 'path "entra/creds/carol" { capabilities = ["read"] }'


def _encoded(char: str) -> str:
    return f"%{ord(char):02X}"


def concrete_paths(broker: BrokerThread, lease_id: str) -> list[tuple[str, str, str, bool]]:
    """(method, full path, mount, served without a token) for every operation of every
    path of every mount."""
    assert broker.core is not None
    found = []
    for entry in broker.core.mounts.entries():
        for spec in entry.backend.paths:
            for url, params in openapi_urls(spec):
                for param in params:
                    url = url.replace("{" + param + "}", _value(entry.path, url, param, lease_id))
                for operation in spec.operations:
                    method = METHODS.get(operation)
                    if method is None:
                        continue
                    full = entry.path + url.lstrip("/")
                    if method == "PUT":
                        full = full.rstrip("/")  # a write may not end in '/' (Vault's rule)
                    rest = full[len(entry.path) :]
                    public = entry.backend.special_paths.is_unauthenticated(rest) or (
                        full.startswith("sys/internal/ui/mounts")
                    )
                    found.append((method, full, entry.path, public))
    return sorted(set(found))


def _value(mount: str, url: str, param: str, lease_id: str) -> str:
    if param == "url_lease_id":
        return lease_id
    if param == "path":
        return PATH_PARAMS[url]
    return PARAMS[(mount, param)]


def body_for(path: str, lease_id: str) -> dict[str, Any] | None:
    """A body the plain request would be served with (None for reads)."""
    if path.startswith("sys/policies/acl/") or path.startswith("sys/policy/"):
        return {"policy": VICTIM_POLICY}
    if path.startswith("sys/audit/"):
        return {"type": "file", "options": {"file_path": "discard"}}
    if path.startswith("sys/leases/") or path.startswith(("sys/renew", "sys/revoke")):
        return {"lease_id": lease_id, "increment": 60}
    if path.startswith("auth/token/create"):
        return {"policies": ["root"]}
    if path.startswith("entra/roles/"):
        return {"user_principal_name": "bob@example.test"}
    if path == "sys/auth/approle":
        return {"type": "approle"}
    return {}


def variants(path: str, mount: str) -> list[str]:
    """The path with control characters appended, prepended and embedded (encoded)."""
    rest = path[len(mount) :]
    cut = len(mount) + len(rest) // 2
    out = [path + _encoded(c) for c in CONTROLS]
    for char in FEW:
        out.append(_encoded(char) + path)
        out.append(path[:cut] + _encoded(char) + path[cut:])
        out.append(mount + _encoded(char) + rest)
    return out


def denying_policy(paths: list[tuple[str, str, str, bool]]) -> str:
    """Everything but sudo on every path, except each table path itself (denied)."""
    rules = ['path "*" { capabilities = ["create", "read", "update", "delete", "list"] }']
    for _, path, _, _ in paths:
        for denied in (path.rstrip("/"), path.rstrip("/") + "/"):
            rules.append(f'path "{denied}" {{ capabilities = ["deny"] }}')
    return "\n".join(dict.fromkeys(rules))


@pytest.fixture
def world(configured: Setup, broker: BrokerThread) -> tuple[Setup, str, str]:
    api = configured.api
    configured.role("bob", ttl="1h")
    configured.role("carol", ttl="1h")
    assert api.request("PUT", "sys/auth/approle", json={"type": "approle"}).status_code == 204
    role = api.request("PUT", "auth/approle/role/r1", json={"token_policies": ["default"]})
    assert role.status_code == 204, role.text
    written = api.request("PUT", "sys/policies/acl/victim", json={"policy": VICTIM_POLICY})
    assert written.status_code == 204
    lease_id = configured.creds("bob")["lease_id"]
    paths = concrete_paths(broker, lease_id)
    policy = denying_policy(paths)
    assert api.request("PUT", "sys/policies/acl/fuzz", json={"policy": policy}).status_code == 204
    created = api.request(
        "PUT", "auth/token/create", json={"policies": ["fuzz"], "no_default_policy": True}
    )
    assert created.status_code == 200, created.text
    return configured, lease_id, created.json()["auth"]["client_token"]


def test_control_characters_never_reach_a_denied_path(world, broker: BrokerThread) -> None:
    setup, lease_id, token = world
    paths = concrete_paths(broker, lease_id)
    # Every mount's table is covered, AppRole's included.
    assert {p[2] for p in paths} == {"sys/", "auth/token/", "entra/", "auth/approle/"}
    passwords_before = setup.tenant.password_changes("bob@example.test")
    allowed: list[str] = []
    refused_otherwise: list[str] = []
    headers = {"X-Vault-Token": token}
    with httpx.Client(base_url=broker.url, trust_env=False, timeout=HTTP_TIMEOUT) as http:
        for method, path, mount, public in paths:
            body = body_for(path, lease_id) if method == "PUT" else None
            if not public:
                plain = http.request(method, f"/v1/{path}", json=body, headers=headers)
                if path in TOKEN_PATHS:
                    # Vault checks the wrapping token first: no valid one, a 400.
                    assert plain.json()["errors"] == [INVALID_WRAPPING_TOKEN], plain.text
                else:
                    assert plain.status_code == 403, f"{method} {path} is not denied: {plain.text}"
            for variant in variants(path, mount):
                answer = http.request(method, f"/v1/{variant}", json=body, headers=headers)
                if answer.is_success and not public:
                    allowed.append(f"{method} {variant}: {answer.status_code}")
                elif answer.status_code != 400:
                    refused_otherwise.append(f"{method} {variant}: {answer.status_code}")
    assert allowed == [], "\n".join(allowed)
    # Refused as bad input, before any route or rule: not a 403 or 404 from deeper in.
    assert refused_otherwise == [], "\n".join(refused_otherwise[:20])
    # Nothing was done on bob's behalf, and the victim policy is as it was.
    assert setup.tenant.password_changes("bob@example.test") == passwords_before
    victim = setup.api.request("GET", "sys/policies/acl/victim")
    assert victim.json()["data"]["policy"] == VICTIM_POLICY


def test_a_newline_after_a_denied_role_gets_400_and_no_password(world) -> None:
    """The reported case: `entra/creds/*` read, `entra/creds/bob` denied."""
    setup, _, _ = world
    rules = 'path "entra/creds/*" { capabilities = ["read"] }\n'
    rules += 'path "entra/creds/bob" { capabilities = ["deny"] }'
    api = setup.api
    assert api.request("PUT", "sys/policies/acl/nobob", json={"policy": rules}).status_code == 204
    created = api.request(
        "PUT", "auth/token/create", json={"policies": ["nobob"], "no_default_policy": True}
    )
    token = created.json()["auth"]["client_token"]
    before = setup.tenant.password_changes("bob@example.test")
    for suffix in ("%0A", "%0D%0A", "%00", "%09"):
        answer = api.request("GET", f"entra/creds/bob{suffix}", token=token)
        assert answer.status_code == 400, answer.text
        (error,) = answer.json()["errors"]
        assert "control character" in error
        assert "password" not in answer.text
    assert api.request("GET", "entra/creds/bob", token=token).status_code == 403
    assert api.request("GET", "entra/creds/carol", token=token).status_code == 200
    assert setup.tenant.password_changes("bob@example.test") == before
