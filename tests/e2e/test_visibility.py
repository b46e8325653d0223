"""What a token may see of the server: mounts in the UI preflight, the lease listing root."""

from __future__ import annotations

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import Setup, make_client


def _token(setup: Setup, name: str, policy: str) -> str:
    api = setup.api
    written = api.request("PUT", f"sys/policies/acl/{name}", json={"policy": policy})
    assert written.status_code == 204, written.text
    created = api.request("PUT", "auth/token/create", json={"policies": [name]})
    assert created.status_code == 200, created.text
    return str(created.json()["auth"]["client_token"])


def test_ui_mounts_lists_only_the_mounts_a_token_reaches(configured: Setup) -> None:
    api = configured.api
    assert api.request("PUT", "sys/auth/approle", json={"type": "approle"}).status_code == 204
    token = _token(configured, "creds-only", 'path "entra/creds/alice" { capabilities = ["read"] }')
    seen = api.request("GET", "sys/internal/ui/mounts", token=token)
    assert seen.status_code == 200, seen.text
    data = seen.json()["data"]
    # entra/ through the policy, sys/ and auth/token/ through the default policy's rules;
    # not AppRole, which nothing in either policy reaches.
    assert sorted(data["secret"]) == ["entra/", "sys/"]
    assert sorted(data["auth"]) == ["token/"]
    everything = api.request("GET", "sys/internal/ui/mounts").json()["data"]
    assert "approle/" in everything["auth"]
    _token(configured, "elsewhere", 'path "secret/x" { capabilities = ["read"] }')
    bare = api.request(
        "PUT", "auth/token/create", json={"policies": ["elsewhere"], "no_default_policy": True}
    ).json()["auth"]["client_token"]
    empty = api.request("GET", "sys/internal/ui/mounts", token=bare).json()["data"]
    assert empty == {"auth": {}, "secret": {}}


def test_listing_every_lease_needs_sudo_at_the_top_too(
    configured: Setup, broker: BrokerThread
) -> None:
    configured.role("alice", ttl="1h")
    configured.creds("alice")
    api = configured.api
    plain = _token(configured, "list", 'path "sys/leases/lookup/*" { capabilities = ["list"] }')
    sudo = _token(
        configured, "list-sudo", 'path "sys/leases/lookup/*" { capabilities = ["list", "sudo"] }'
    )
    for path in ("sys/leases/lookup/", "sys/leases/lookup/entra/"):
        assert api.request("LIST", path, token=plain).status_code == 403, path
        allowed = api.request("LIST", path, token=sudo)
        assert allowed.status_code == 200, allowed.text
    # hvac's own call for the top level, with the same answers.
    assert make_client(broker, sudo).sys.list_leases("")["data"]["keys"] == ["entra/"]
