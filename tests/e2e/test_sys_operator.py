"""sys/init, sys/key-status, sys/plugins/catalog, sys/auth/<path>/tune and the `bao
operator` paths this server refuses, through the real `bao` CLI and hvac."""

from __future__ import annotations

import json

import hvac
import hvac.exceptions
import pytest

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import Api, Bao, assert_error_body, make_client, parse_time, table


def test_init_reads_initialized_and_refuses_to_init_again(
    api: Api, bao: Bao, client: hvac.Client
) -> None:
    assert client.sys.read_init_status() == {"initialized": True}
    with pytest.raises(hvac.exceptions.InvalidRequest, match="Vault is already initialized"):
        client.sys.initialize(secret_shares=1, secret_threshold=1)
    refused = api.request("PUT", "sys/init", json={"secret_shares": 1}, token=None)
    assert assert_error_body(refused, 400) == ["Vault is already initialized"]
    run = bao("operator", "init", "-key-shares=1", "-key-threshold=1")
    assert run.code != 0
    assert "already initialized" in run.stderr.lower()


def test_key_status(bao: Bao, client: hvac.Client) -> None:
    found = client.sys.get_encryption_key_status()["data"]
    assert found["term"] == 1
    parse_time(found["install_time"])
    shown = bao("operator", "key-status").stdout.splitlines()
    assert shown[0].split() == ["Key", "Term", "1"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("rekey", "-init", "-key-shares=1", "-key-threshold=1"), "no rekey"),
        (("rekey", "-status"), "no rekey"),
        (("rotate",), "no key rotation"),
        (("rotate-keys",), "no key rotation"),
        (("step-down",), "without high availability"),
        (("members",), "without high availability"),
        (("generate-root", "-init"), "entra-broker operator generate-root"),
        (("generate-root", "-status"), "entra-broker operator generate-root"),
        (("raft", "list-peers"), "not Raft"),
        (("raft", "autopilot", "state"), "not Raft"),
    ],
)
def test_operator_paths_we_do_not_serve_say_what_to_do(
    bao: Bao, args: tuple[str, ...], words: str
) -> None:
    run = bao("operator", *args)
    assert run.code != 0
    assert "Code: 400" in run.stderr, run.stderr
    assert words in run.flat_stderr, run.stderr
    assert "docs/operations.md" in run.flat_stderr or "generate-root" in run.flat_stderr


def test_plugin_catalog(bao: Bao, client: hvac.Client) -> None:
    listed = bao("plugin", "list")
    assert listed.code == 0, listed.stderr
    rows = {tuple(line.split()[:2]) for line in listed.stdout.splitlines()[2:]}
    assert {("entra", "secret"), ("approle", "auth"), ("token", "auth")} <= rows
    info = bao("plugin", "info", "-format=json", "secret", "entra")
    assert info.code == 0, info.stderr
    data = json.loads(info.stdout)
    assert data["builtin"] is True and data["name"] == "entra"
    assert data["version"].endswith("+builtin")
    # hvac has no plugin helpers: its generic read and list, as a script would.
    catalog = client.read("sys/plugins/catalog")["data"]
    assert "entra" in catalog["secret"] and "approle" in catalog["auth"]
    assert client.list("sys/plugins/catalog/secret")["data"]["keys"] == ["entra"]
    assert client.read("sys/plugins/catalog/secret/kv") is None  # hvac's read of a 404


def test_auth_tune_with_bao_applies_to_the_tokens_issued(bao: Bao, client: hvac.Client) -> None:
    assert bao("auth", "enable", "approle").code == 0
    tuned = bao(
        "auth",
        "tune",
        "-default-lease-ttl=10m",
        "-max-lease-ttl=1h",
        "-description=fleet",
        "-listing-visibility=unauth",
        "approle/",
    )
    assert tuned.code == 0, tuned.stderr
    shown = table(bao("read", "sys/auth/approle/tune").stdout)
    assert shown["default_lease_ttl"] == "10m" and shown["max_lease_ttl"] == "1h"
    assert shown["description"] == "fleet" and shown["listing_visibility"] == "unauth"

    client.write("auth/approle/role/r", token_policies=["default"])
    role_id = client.read("auth/approle/role/r/role-id")["data"]["role_id"]
    secret_id = client.write("auth/approle/role/r/secret-id")["data"]["secret_id"]
    login = client.write("auth/approle/login", role_id=role_id, secret_id=secret_id)
    assert login["auth"]["lease_duration"] == 600

    below_default = bao("auth", "tune", "-max-lease-ttl=5m", "approle/")
    assert below_default.code != 0
    assert "max lease TTL of 300 would be less than" in below_default.flat_stderr

    # Above the server's max (768h): accepted, and it replaces it for this method (OpenBao).
    above = bao("auth", "tune", "-max-lease-ttl=2000h", "approle/")
    assert above.code == 0, above.stderr
    client.write("auth/approle/role/long", token_ttl="1000h", token_policies=["default"])
    role_id = client.read("auth/approle/role/long/role-id")["data"]["role_id"]
    secret_id = client.write("auth/approle/role/long/secret-id")["data"]["secret_id"]
    login = client.write("auth/approle/login", role_id=role_id, secret_id=secret_id)
    assert login["auth"]["lease_duration"] == 1000 * 3600


def test_auth_tune_with_hvac_and_the_token_method(client: hvac.Client) -> None:
    client.sys.tune_auth_method("token", default_lease_ttl="5m", description="tokens")
    tuning = client.sys.read_auth_method_tuning("token")["data"]
    assert tuning["default_lease_ttl"] == 300
    assert tuning["description"] == "tokens"
    assert tuning["token_type"] == "default-service"
    made = client.auth.token.create(policies=["default"])["auth"]
    assert made["lease_duration"] == 300
    with pytest.raises(hvac.exceptions.InvalidRequest, match="service tokens only"):
        client.sys.tune_auth_method("token", token_type="batch")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="no auth method is enabled"):
        client.sys.tune_auth_method("nothing-here", default_lease_ttl="5m")


def test_tuning_survives_a_restart(broker: BrokerThread, client: hvac.Client) -> None:
    client.sys.enable_auth_method("approle")
    client.sys.tune_auth_method("approle", default_lease_ttl="7m", description="fleet")
    client.sys.tune_auth_method("token", max_lease_ttl="2h")
    broker.restart()
    client = make_client(broker)
    approle = client.sys.read_auth_method_tuning("approle")["data"]
    assert approle["default_lease_ttl"] == 420 and approle["description"] == "fleet"
    assert client.sys.read_auth_method_tuning("token")["data"]["max_lease_ttl"] == 7200
    made = client.auth.token.create(policies=["default"], ttl="5h")["auth"]
    assert made["lease_duration"] == 7200
