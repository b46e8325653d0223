"""Who may call what: every endpoint against every kind of caller, over real HTTP.

For each endpoint of the table, a caller with no token, an expired token, a revoked token
or a token whose policy grants the wrong capability gets 403 in Vault's shape; a token
whose policy grants exactly the right capabilities (sudo included where Vault asks for it)
gets the same answer as root.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.conftest import Setup
from tests.waiting import wait_until_sync

DENIED_BY_POLICY = ["1 error occurred:\n\t* permission denied\n\n"]
DENIED_TOKEN = ["permission denied"]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    # The rule that allows it, and one for the same path that does not (wrong capability,
    # or the right one without sudo).
    right: tuple[str, list[str]]
    wrong: tuple[str, list[str]]
    status: int
    body: Callable[[dict[str, str]], Any] | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "entra/config", ("entra/config", ["read"]), ("entra/config", ["update"]), 200),
    Endpoint(
        "GET", "entra/roles/bob", ("entra/roles/*", ["read"]), ("entra/roles/*", ["create"]), 200
    ),
    Endpoint("LIST", "entra/roles", ("entra/roles/", ["list"]), ("entra/roles", ["list"]), 200),
    # The role exists: writing it again is an update, and `create` alone is not enough.
    Endpoint(
        "PUT",
        "entra/roles/alice",
        ("entra/roles/alice", ["update"]),
        ("entra/roles/alice", ["create"]),
        204,
        lambda _: {"user_principal_name": "alice@example.test", "ttl": "1h"},
    ),
    Endpoint(
        "GET", "entra/creds/alice", ("entra/creds/+", ["read"]), ("entra/creds/bob", ["read"]), 200
    ),
    Endpoint(
        "PUT",
        "sys/leases/lookup",
        ("sys/leases/lookup", ["update"]),
        ("sys/leases/lookup", ["read"]),
        200,
        lambda ids: {"lease_id": ids["lease"]},
    ),
    Endpoint(
        "PUT",
        "sys/leases/renew",
        ("sys/leases/renew", ["update"]),
        ("sys/leases/*", ["read"]),
        200,
        lambda ids: {"lease_id": ids["lease"]},
    ),
    Endpoint(
        "LIST",
        "sys/leases/lookup/entra/creds/alice",
        ("sys/leases/lookup/entra/*", ["list", "sudo"]),
        ("sys/leases/lookup/entra/*", ["list"]),
        200,
    ),
    Endpoint(
        "GET",
        "sys/leases?type=irrevocable",
        ("sys/leases", ["read", "sudo"]),
        ("sys/leases", ["read"]),
        200,
    ),
    Endpoint(
        "PUT",
        "sys/leases/revoke-prefix/entra/creds/nobody",
        ("sys/leases/revoke-prefix/*", ["update", "sudo"]),
        ("sys/leases/revoke-prefix/*", ["update"]),
        204,
    ),
    Endpoint("GET", "sys/mounts", ("sys/mounts", ["read"]), ("sys/mounts/*", ["read"]), 200),
    Endpoint("GET", "sys/auth", ("sys/auth", ["read"]), ("sys/auth/*", ["read"]), 200),
    Endpoint("GET", "sys/audit", ("sys/audit", ["read", "sudo"]), ("sys/audit", ["read"]), 200),
    Endpoint(
        "GET",
        "sys/policies/acl/default",
        ("sys/policies/acl/*", ["read"]),
        ("sys/policies/acl/*", ["list"]),
        200,
    ),
    Endpoint(
        "PUT",
        "sys/policies/acl/extra",
        ("sys/policies/acl/extra", ["create", "update"]),
        ("sys/policies/acl/extra", ["read"]),
        204,
        lambda _: {"policy": 'path "x" { capabilities = ["read"] }'},
    ),
    Endpoint(
        "GET",
        "auth/token/lookup-self",
        ("auth/token/lookup-self", ["read"]),
        ("auth/token/lookup", ["read"]),
        200,
    ),
    Endpoint(
        "PUT",
        "auth/token/create",
        ("auth/token/create", ["update"]),
        ("auth/token/create", ["create"]),
        200,
        lambda _: {"policies": ["default"], "ttl": "1m"},
    ),
    Endpoint(
        "LIST",
        "auth/token/accessors",
        ("auth/token/accessors/", ["list", "sudo"]),  # a list is checked with its slash
        ("auth/token/accessors/", ["list"]),
        200,
    ),
    Endpoint(
        "PUT",
        "sys/capabilities-self",
        ("sys/capabilities-self", ["update"]),
        ("sys/capabilities", ["update"]),
        200,
        lambda _: {"paths": ["entra/creds/alice"]},
    ),
]


def policy_text(rules: list[tuple[str, list[str]]]) -> str:
    merged: dict[str, set[str]] = {}
    for path, caps in rules:
        merged.setdefault(path, set()).update(caps)
    return "\n".join(
        f'path "{path}" {{ capabilities = {sorted(caps)!r} }}'.replace("'", '"')
        for path, caps in merged.items()
    )


@pytest.fixture
def world(configured: Setup) -> tuple[Setup, dict[str, str]]:
    """A configured broker, a live lease, and the `right` and `wrong` policies."""
    configured.role("alice", ttl="1h")
    configured.role("bob", ttl="1h")
    # Bob's lease: the table's own creds reads of alice would supersede an alice lease.
    ids = {"lease": configured.creds("bob")["lease_id"]}
    api = configured.api
    for name, pick in (("right", lambda e: e.right), ("wrong", lambda e: e.wrong)):
        text = policy_text([pick(e) for e in ENDPOINTS])
        written = api.request("PUT", f"sys/policies/acl/{name}", json={"policy": text})
        assert written.status_code == 204, written.text
    return configured, ids


def token_with(setup: Setup, policies: list[str], **fields: Any) -> str:
    # No default policy: each token holds exactly what the table gives it.
    body = {"policies": policies, "no_default_policy": True, **fields}
    created = setup.api.request("PUT", "auth/token/create", json=body)
    assert created.status_code == 200, created.text
    return str(created.json()["auth"]["client_token"])


def call(setup: Setup, endpoint: Endpoint, token: str | None, ids: dict[str, str]) -> Any:
    body = endpoint.body(ids) if endpoint.body else None
    return setup.api.request(endpoint.method, endpoint.path, json=body, token=token)


def mismatches(
    setup: Setup, ids: dict[str, str], token: str | None, expect: Callable[[Endpoint], Any]
) -> list[str]:
    found = []
    for endpoint in ENDPOINTS:
        response = call(setup, endpoint, token, ids)
        wanted = expect(endpoint)
        status, errors = wanted if isinstance(wanted, tuple) else (wanted, None)
        got_errors = response.json().get("errors") if response.content else None
        if response.status_code != status or (errors is not None and got_errors != errors):
            found.append(f"{endpoint}: {response.status_code} {response.text[:200]}")
    return found


def test_no_token_is_refused_everywhere(world) -> None:
    setup, ids = world
    assert mismatches(setup, ids, None, lambda e: (403, DENIED_TOKEN)) == []


def test_an_expired_token_is_refused_everywhere(world) -> None:
    setup, ids = world
    token = token_with(setup, ["right"], ttl="1s", renewable=False)
    started = time.monotonic()
    wait_until_sync(
        lambda: setup.api.request("GET", "auth/token/lookup-self", token=token).status_code == 403,
        timeout=10,
    )
    assert time.monotonic() - started >= 0.5  # it did work before it expired
    assert mismatches(setup, ids, token, lambda e: (403, DENIED_TOKEN)) == []


def test_a_revoked_token_is_refused_everywhere(world) -> None:
    setup, ids = world
    token = token_with(setup, ["right"])
    revoked = setup.api.request("PUT", "auth/token/revoke", json={"token": token})
    assert revoked.status_code == 204
    assert mismatches(setup, ids, token, lambda e: (403, DENIED_TOKEN)) == []


def test_the_wrong_capability_is_refused_everywhere(world) -> None:
    setup, ids = world
    token = token_with(setup, ["wrong"])
    found = mismatches(setup, ids, token, lambda e: (403, DENIED_BY_POLICY))
    assert found == [], "\n".join(found)


def test_the_right_capabilities_are_enough_everywhere(world) -> None:
    setup, ids = world
    token = token_with(setup, ["right"])
    found = mismatches(setup, ids, token, lambda e: e.status)
    assert found == [], "\n".join(found)


def test_root_may_call_everything(world) -> None:
    setup, ids = world
    found = mismatches(setup, ids, "root", lambda e: e.status)
    assert found == [], "\n".join(found)


def test_each_right_rule_is_needed(world) -> None:
    """The right policy minus one endpoint's rule: that endpoint, and only it, is refused."""
    setup, ids = world
    for skipped in ENDPOINTS[:6]:
        others = [e.right for e in ENDPOINTS if e.right[0] != skipped.right[0]]
        text = policy_text(others)
        written = setup.api.request("PUT", "sys/policies/acl/partial", json={"policy": text})
        assert written.status_code == 204, written.text
        token = token_with(setup, ["partial"])
        response = call(setup, skipped, token, ids)
        assert response.status_code == 403, f"{skipped} allowed without its rule"


def test_help_needs_only_a_valid_token(world) -> None:
    setup, _ = world
    token = token_with(setup, ["wrong"])
    helped = setup.api.request("GET", "entra/creds/alice?help=1", token=token)
    assert helped.status_code == 200 and "help" in helped.json()


def test_a_policy_change_applies_at_once_to_existing_tokens(world) -> None:
    setup, ids = world
    token = token_with(setup, ["later"])
    assert setup.api.request("GET", "entra/config", token=token).status_code == 403
    rule = {"policy": 'path "entra/config" { capabilities = ["read"] }'}
    assert setup.api.request("PUT", "sys/policies/acl/later", json=rule).status_code == 204
    assert setup.api.request("GET", "entra/config", token=token).status_code == 200
    assert setup.api.request("DELETE", "sys/policies/acl/later").status_code == 204
    assert setup.api.request("GET", "entra/config", token=token).status_code == 403
