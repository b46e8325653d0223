"""AppRole through hvac and raw HTTP: roles, role ids, secret ids, login and the tokens it
mints, secret-id limits (uses, TTL, CIDRs), bad input, restarts and disabling the method."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import hvac
import pytest

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import HTTP_TIMEOUT, Api, assert_error_body, make_client, parse_time
from tests.waiting import wait_until_sync

INVALID = "invalid role or secret ID"


@pytest.fixture
def approle(client: hvac.Client) -> hvac.Client:
    """A root hvac client with AppRole enabled at auth/approle/."""
    client.sys.enable_auth_method("approle", description="agent fleet")
    return client


def role_credentials(client: hvac.Client, role: str, **secret_id: Any) -> tuple[str, str]:
    role_id = client.auth.approle.read_role_id(role)["data"]["role_id"]
    generated = client.auth.approle.generate_secret_id(role, **secret_id)["data"]
    return role_id, generated["secret_id"]


def login(api: Api, role_id: str, secret_id: str, **headers: str) -> httpx.Response:
    return api.request(
        "PUT",
        "auth/approle/login",
        json={"role_id": role_id, "secret_id": secret_id},
        token=None,
        headers=headers,
    )


def test_hvac_login_mints_a_service_token_with_the_roles_policies(
    broker: BrokerThread, approle: hvac.Client
) -> None:
    approle.auth.approle.create_or_update_approle(
        "agent", token_policies=["entra-read"], token_ttl="10s", token_max_ttl="20s"
    )
    role_id, secret_id = role_credentials(approle, "agent", metadata={"host": "web-1"})

    app = hvac.Client(url=broker.url, timeout=HTTP_TIMEOUT)
    answer = app.auth.approle.login(role_id, secret_id)
    auth = answer["auth"]
    assert answer["data"] is None and answer["lease_id"] == ""
    assert auth["policies"] == auth["token_policies"] == ["default", "entra-read"]
    assert auth["metadata"] == {"host": "web-1", "role_name": "agent"}
    assert auth["lease_duration"] == 10
    assert (auth["renewable"], auth["token_type"], auth["orphan"]) == (True, "service", True)
    assert app.token == auth["client_token"]

    looked_up = app.lookup_token()["data"]
    assert looked_up["path"] == "auth/approle/login"
    assert looked_up["display_name"] == "approle"
    assert looked_up["meta"] == {"host": "web-1", "role_name": "agent"}

    # Renewable, but never past token_max_ttl from its creation.
    renewed = app.auth.token.renew_self(increment=3600)["auth"]
    assert 18 <= renewed["lease_duration"] <= 20
    assert approle.auth.approle.list_roles()["data"]["keys"] == ["agent"]


def test_role_read_shows_vault_fields_and_legacy_policies_upgrade(approle: hvac.Client) -> None:
    approle.write("auth/approle/role/legacy", policies="b,A", secret_id_ttl="10m")
    data = approle.auth.approle.read_role("legacy")["data"]
    assert data["token_policies"] == data["policies"] == ["a", "b"]
    assert data["secret_id_ttl"] == 600
    assert (data["bind_secret_id"], data["token_type"], data["local_secret_ids"]) == (
        True,
        "default",
        False,
    )
    approle.auth.approle.create_or_update_approle("legacy", token_policies=["c"])
    data = approle.auth.approle.read_role("legacy")["data"]
    assert data["token_policies"] == ["c"] and "policies" not in data

    approle.auth.approle.update_role_id("legacy", "my-custom-role-id")
    assert approle.auth.approle.read_role_id("legacy")["data"]["role_id"] == "my-custom-role-id"
    approle.auth.approle.delete_role("legacy")
    with pytest.raises(hvac.exceptions.InvalidPath):
        approle.auth.approle.read_role("legacy")


def test_a_one_use_secret_id_wins_exactly_one_of_concurrent_logins(
    api: Api, approle: hvac.Client
) -> None:
    approle.auth.approle.create_or_update_approle("once", secret_id_num_uses=1)
    role_id, secret_id = role_credentials(approle, "once")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: login(api, role_id, secret_id), range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [400] * 7
    assert {tuple(a.json()["errors"]) for a in answers if a.status_code == 400} == {(INVALID,)}

    approle.auth.approle.create_or_update_approle("twice", secret_id_num_uses=2)
    role_id, secret_id = role_credentials(approle, "twice")
    assert login(api, role_id, secret_id).status_code == 200
    left = approle.auth.approle.read_secret_id("twice", secret_id)["data"]
    assert left["secret_id_num_uses"] == 1
    assert login(api, role_id, secret_id).status_code == 200
    assert assert_error_body(login(api, role_id, secret_id), 400) == [INVALID]
    # The used-up secret id is gone, accessor and all.
    with pytest.raises(hvac.exceptions.InvalidPath):
        approle.auth.approle.read_secret_id_accessor("twice", left["secret_id_accessor"])


def test_an_expired_secret_id_is_refused_and_tidied(api: Api, approle: hvac.Client) -> None:
    approle.auth.approle.create_or_update_approle("short", secret_id_ttl="1s")
    role_id, secret_id = role_credentials(approle, "short")
    _, other = role_credentials(approle, "short")
    looked_up = approle.auth.approle.read_secret_id("short", other)["data"]
    assert looked_up["secret_id_ttl"] == 1
    expires = parse_time(looked_up["expiration_time"])
    wait_until_sync(lambda: time.time() > expires + 0.05, timeout=5)

    assert assert_error_body(login(api, role_id, secret_id), 400) == [INVALID]
    # The tidy endpoint sweeps the other one, which nobody presented.
    tidy = api.request("POST", "auth/approle/tidy/secret-id")
    assert tidy.status_code == 202 and "Tidy operation successfully started" in tidy.text
    with pytest.raises(hvac.exceptions.InvalidPath):
        approle.auth.approle.read_secret_id_accessor("short", looked_up["secret_id_accessor"])
    assert api.request("LIST", "auth/approle/role/short/secret-id").status_code == 404


def test_cidr_bindings_use_the_peer_address_not_forwarded_headers(
    api: Api, approle: hvac.Client
) -> None:
    approle.auth.approle.create_or_update_approle("remote", secret_id_bound_cidrs=["10.0.0.0/8"])
    role_id, secret_id = role_credentials(approle, "remote")
    refused = login(api, role_id, secret_id, **{"X-Forwarded-For": "10.1.2.3"})
    assert assert_error_body(refused, 400) == [
        'source address "127.0.0.1" unauthorized by CIDR restrictions on the role'
    ]

    approle.auth.approle.create_or_update_approle("local", secret_id_bound_cidrs=["127.0.0.0/8"])
    role_id, secret_id = role_credentials(approle, "local", cidr_list=["127.0.0.2/32"])
    assert assert_error_body(login(api, role_id, secret_id), 400) == [
        'source address "127.0.0.1" unauthorized by CIDR restrictions on the secret ID'
    ]
    role_id, secret_id = role_credentials(approle, "local", cidr_list=["127.0.0.1"])
    assert login(api, role_id, secret_id).status_code == 200

    # A token bound elsewhere is refused wherever it is used from here.
    approle.auth.approle.create_or_update_approle("bound", token_bound_cidrs=["10.0.0.0/8"])
    role_id, secret_id = role_credentials(approle, "bound")
    token = login(api, role_id, secret_id).json()["auth"]["client_token"]
    assert api.request("GET", "auth/token/lookup-self", token=token).status_code == 403


def test_bad_input_gets_a_sentence(api: Api, approle: hvac.Client) -> None:
    def refused(method: str, path: str, body: dict[str, Any] | None = None) -> list[str]:
        return assert_error_body(api.request(method, path, json=body))

    assert refused("POST", "sys/auth/other", {"type": "nope"}) == [
        "plugin not found in the catalog: nope"
    ]
    assert refused("POST", "sys/auth/approle", {"type": "approle"}) == [
        "path is already in use at approle/"
    ]
    assert refused("DELETE", "sys/auth/token") == ["token credential backend cannot be disabled"]
    errors = refused(
        "POST",
        "auth/approle/role/bad",
        {
            "token_type": "batch",
            "secret_id_num_uses": -1,
            "token_bound_cidrs": "10.0.0.300/8",
            "token_ttl": "2h",
            "token_max_ttl": "1h",
        },
    )
    assert any('token_type "batch" is not supported' in e for e in errors)
    assert "secret_id_num_uses cannot be negative" in errors
    assert any(
        e.startswith("invalid CIDR blocks in token_bound_cidrs: 10.0.0.300/8") for e in errors
    )
    assert "'token_ttl' cannot be greater than 'token_max_ttl'" in errors
    assert refused("POST", "auth/approle/role/open", {"bind_secret_id": False})[0].startswith(
        "at least one constraint should be enabled on the role"
    )
    # Nothing half-written stays behind.
    assert api.request("GET", "auth/approle/role/bad").status_code == 404

    approle.auth.approle.create_or_update_approle("good", secret_id_num_uses=3)
    assert refused("POST", "auth/approle/role/good/secret-id", {"num_uses": 5}) == [
        "num_uses cannot be higher than the role's secret_id_num_uses"
    ]
    assert refused("POST", "auth/approle/role/good/secret-id", {"metadata": "novalue"}) == [
        'failed to parse metadata: "novalue" is not a key=value pair'
    ]
    assert api.request("POST", "auth/approle/role/ghost/secret-id").status_code == 404
    custom = {"secret_id": "my-custom-secret-id-0123456789"}
    assert api.request("POST", "auth/approle/role/good/custom-secret-id", json=custom).is_success
    assert refused("POST", "auth/approle/role/good/custom-secret-id", custom) == [
        "SecretID is already registered"
    ]
    assert refused("PUT", "auth/approle/login", {}) == ["missing role_id"]
    role_id = approle.auth.approle.read_role_id("good")["data"]["role_id"]
    assert refused("PUT", "auth/approle/login", {"role_id": role_id}) == ["missing secret_id"]
    assert refused("PUT", "auth/approle/login", {"role_id": "nope", "secret_id": "x"}) == [INVALID]
    approle.auth.approle.create_or_update_approle("other")
    assert refused("POST", "auth/approle/role/other/role-id", {"role_id": role_id}) == [
        "role_id already in use"
    ]


def test_the_method_survives_a_restart_and_disabling_revokes_its_tokens(
    broker: BrokerThread, api: Api, approle: hvac.Client
) -> None:
    approle.auth.approle.create_or_update_approle("agent", token_ttl="1h")
    role_id, secret_id = role_credentials(approle, "agent")
    token = login(api, role_id, secret_id).json()["auth"]["client_token"]

    broker.restart()
    methods = make_client(broker).sys.list_auth_methods()["data"]
    assert methods["approle/"]["type"] == "approle"
    assert methods["approle/"]["description"] == "agent fleet"
    assert login(api, role_id, secret_id).status_code == 200
    assert make_client(broker, token).is_authenticated()

    assert api.request("DELETE", "sys/auth/approle").status_code == 204
    assert not make_client(broker, token).is_authenticated()
    assert api.request("PUT", "auth/approle/login", json={"role_id": role_id}).status_code == 404
    # Enabled again at the same path, it starts empty.
    make_client(broker).sys.enable_auth_method("approle")
    assert api.request("GET", "auth/approle/role/agent").status_code == 404


def test_secret_ids_stay_out_of_logs_and_storage(
    caplog: pytest.LogCaptureFixture, broker: BrokerThread, api: Api, approle: hvac.Client
) -> None:
    caplog.set_level(logging.DEBUG)
    approle.auth.approle.create_or_update_approle("agent")
    role_id, secret_id = role_credentials(approle, "agent")
    custom = "Custom~SecretId~kept-out-of-logs-" + secret_id[:8]
    approle.auth.approle.create_custom_secret_id("agent", custom)
    token = login(api, role_id, secret_id).json()["auth"]["client_token"]
    assert login(api, role_id, custom).status_code == 200
    assert login(api, role_id, custom + "x").status_code == 400

    broker.stop()
    stored = broker.storage_bytes().decode()
    for secret in (secret_id, custom, token):
        assert secret not in stored
        assert not [r for r in caplog.records if secret in r.getMessage() or secret in str(r.args)]
    broker.start()
