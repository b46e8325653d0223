"""sys/seal and sys/unseal through the real `bao` CLI and hvac: a sealed server serves
nothing but its status, revokes nothing, and unseals with the seal key only."""

from __future__ import annotations

import base64
import json
import time

import httpx
import hvac
import hvac.exceptions
import pytest

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import (
    ALICE,
    Api,
    Bao,
    Setup,
    Tenant,
    assert_error_body,
    make_client,
    parse_time,
)
from tests.waiting import wait_until_sync


def unseal_key(broker: BrokerThread) -> str:
    """The seal key as the key file holds it (base64), which is the unseal key."""
    return base64.b64encode(broker.seal_key).decode("ascii")


def status(bao: Bao) -> dict[str, object]:
    run = bao("status", "-format=json")
    # bao status exits 2 when sealed, 0 when unsealed.
    assert run.code in (0, 2), run.stderr
    found: dict[str, object] = json.loads(run.stdout)
    return found


def test_seal_blocks_every_request_and_only_the_seal_key_unseals(
    configured: Setup, broker: BrokerThread, bao: Bao, api: Api
) -> None:
    configured.role("alice", ttl="1h", max_ttl="2h")
    assert bao("read", "entra/creds/alice").code == 0

    sealed = bao("operator", "seal")
    assert sealed.code == 0, sealed.stderr
    assert "Success! Vault is sealed." in sealed.stdout
    shown = status(bao)
    assert shown["sealed"] is True and shown["t"] == 1 and shown["n"] == 1
    assert shown["progress"] == 0

    read = bao("read", "entra/creds/alice")
    assert read.code != 0
    assert "Code: 503" in read.stderr and "Vault is sealed" in read.stderr
    assert assert_error_body_5xx(api.request("GET", "sys/policies/acl"), 503) == ["Vault is sealed"]
    # Status paths are still served: health says sealed with a 503, as Vault.
    health = api.request("GET", "sys/health", token=None)
    assert health.status_code == 503 and health.json()["sealed"] is True
    assert api.request("GET", "sys/health?sealedcode=299", token=None).status_code == 299
    assert api.request("GET", "sys/init", token=None).json() == {"initialized": True}
    assert api.request("GET", "sys/leader", token=None).status_code == 200

    wrong = base64.b64encode(b"w" * 32).decode("ascii")
    refused = bao("operator", "unseal", wrong)
    assert refused.code != 0
    assert "cipher: message authentication failed" in refused.stderr
    not_a_key = bao("operator", "unseal", "not-a-key!")
    assert "'key' must be a valid hex or base64 string" in not_a_key.stderr
    assert status(bao)["sealed"] is True

    opened = bao("operator", "unseal", unseal_key(broker))
    assert opened.code == 0, opened.stderr
    assert status(bao)["sealed"] is False
    assert bao("read", "entra/creds/alice").code == 0
    assert api.request("GET", "sys/health", token=None).status_code == 200


def assert_error_body_5xx(response: httpx.Response, status_code: int) -> list[str]:
    assert response.status_code == status_code, response.text
    body = response.json()
    assert list(body) == ["errors"], body
    errors: list[str] = body["errors"]
    return errors


def test_hvac_wrong_key_is_refused_and_the_right_one_unseals(
    broker: BrokerThread, client: hvac.Client
) -> None:
    assert client.sys.is_initialized() is True
    assert client.sys.is_sealed() is False
    client.sys.seal()
    assert client.sys.is_sealed() is True
    with pytest.raises(hvac.exceptions.VaultDown, match="Vault is sealed"):
        client.sys.list_enabled_audit_devices()
    with pytest.raises(hvac.exceptions.InvalidRequest, match="message authentication failed"):
        client.sys.submit_unseal_key(key=base64.b64encode(b"x" * 32).decode())
    reset = client.sys.submit_unseal_key(reset=True)
    assert reset["sealed"] is True and reset["progress"] == 0
    answer = client.sys.submit_unseal_key(key=unseal_key(broker))
    assert answer["sealed"] is False and answer["t"] == 1
    assert client.sys.is_sealed() is False
    assert "token/" in client.sys.list_auth_methods()["data"]


def test_a_lease_that_expires_while_sealed_is_revoked_after_unseal(
    configured: Setup, broker: BrokerThread, tenant: Tenant
) -> None:
    configured.role("alice", ttl="2s", max_ttl="1m")
    secret = configured.creds("alice")
    lease_id, password = secret["lease_id"], secret["data"]["password"]
    expire = parse_time(configured.lookup(lease_id).json()["data"]["expire_time"])
    client = make_client(broker)
    client.sys.seal()

    # Well past the expiry, the sealed server has revoked nothing.
    wait_until_sync(lambda: time.time() > expire + 2.0, timeout=10)
    assert tenant.signs_in(ALICE, password)

    client.sys.submit_unseal_key(key=unseal_key(broker))
    wait_until_sync(lambda: not tenant.signs_in(ALICE, password), timeout=10, interval=0.05)
    configured.wait_leases_forgotten("entra/creds/alice")
    assert assert_error_body(configured.lookup(lease_id), 400) == ["invalid lease"]


def test_seal_needs_sudo(api: Api, client: hvac.Client) -> None:
    client.sys.create_or_update_policy("reader", 'path "sys/*" { capabilities = ["update"] }')
    token = client.auth.token.create(policies=["reader"])["auth"]["client_token"]
    refused = api.request("PUT", "sys/seal", token=token)
    assert refused.status_code == 403, refused.text
    assert client.sys.is_sealed() is False
