"""Response wrapping through the real `bao` CLI and hvac: `-wrap-ttl` on reads and writes
answers a single-use wrapping token, `bao unwrap` / hvac's `sys.unwrap` give the answer
back once, sys/wrapping/{wrap,lookup,rewrap} work as in Vault, and expiry ends a token."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import ALICE, Api, Bao, Setup, Tenant, make_client
from tests.waiting import wait_until_sync

INVALID = "wrapping token is not valid or does not exist"


@pytest.fixture
def role(bao: Bao) -> str:
    assert bao("auth", "enable", "approle").code == 0
    assert bao("write", "auth/approle/role/x", "token_policies=default").code == 0
    return "auth/approle/role/x"


def _json(run: Any) -> dict[str, Any]:
    assert run.code == 0, run.stderr
    found: dict[str, Any] = json.loads(run.stdout)
    return found


def _secret_id_accessors(api: Api, role: str) -> list[str]:
    listed = api.request("LIST", f"{role}/secret-id")
    if listed.status_code == 404:
        return []
    assert listed.status_code == 200, listed.text
    keys: list[str] = listed.json()["data"]["keys"]
    return keys


def test_bao_wraps_a_secret_id_and_unwraps_it_once(bao: Bao, api: Api, role: str) -> None:
    answer = _json(bao("write", "-format=json", "-f", "-wrap-ttl=60s", f"{role}/secret-id"))
    info = answer["wrap_info"]
    assert answer.get("data") is None
    assert info["ttl"] == 60 and info["creation_path"] == f"{role}/secret-id"
    assert info["token"].startswith("s.") and info["accessor"]
    # The secret id exists (its accessor is the wrapped accessor), and is not shown.
    assert _secret_id_accessors(api, role) == [info["wrapped_accessor"]]
    assert 'secret_id"' not in json.dumps(answer).replace("secret_id_accessor", "")

    # The wrapping token: policy response-wrapping, one use, no parent, the wrap TTL.
    looked = api.request("POST", "auth/token/lookup", json={"token": info["token"]})
    data = looked.json()["data"]
    assert data["policies"] == ["response-wrapping"] and data["num_uses"] == 1
    assert data["orphan"] is True and data["renewable"] is False
    assert 55 <= data["ttl"] <= 60 and data["path"] == f"{role}/secret-id"

    unwrapped = _json(bao("unwrap", "-format=json", info["token"]))
    secret_id = unwrapped["data"]["secret_id"]
    assert unwrapped["data"]["secret_id_accessor"] == info["wrapped_accessor"]
    role_id = api.request("GET", f"{role}/role-id").json()["data"]["role_id"]
    login = api.request(
        "POST", "auth/approle/login", token=None, json={"role_id": role_id, "secret_id": secret_id}
    )
    assert login.status_code == 200, login.text

    again = bao("unwrap", info["token"])
    assert again.code != 0 and "Code: 400" in again.stderr and INVALID in again.flat_stderr


def test_bao_read_with_wrap_ttl_wraps_entra_creds_under_a_live_lease(
    bao: Bao, configured: Setup, tenant: Tenant, broker: BrokerThread
) -> None:
    configured.role("alice", ttl="1h")
    answer = _json(bao("read", "-format=json", "-wrap-ttl=5m", "entra/creds/alice"))
    info = answer["wrap_info"]
    assert info["ttl"] == 300 and info["creation_path"] == "entra/creds/alice"
    assert answer.get("lease_id", "") == "" and answer.get("data") is None
    # The lease was created with the credential.
    leases = configured.lease_keys("entra/creds/alice/")
    assert len(leases) == 1

    # hvac unwraps it (token in the body, the client's own token as X-Vault-Token).
    secret = make_client(broker).sys.unwrap(info["token"])
    assert secret["lease_id"] == f"entra/creds/alice/{leases[0]}"
    assert secret["lease_duration"] == 3600 and secret["renewable"] is True
    assert tenant.signs_in(ALICE, secret["data"]["password"])
    with pytest.raises(hvac.exceptions.InvalidRequest, match=INVALID):
        make_client(broker).sys.unwrap(info["token"])


def test_hvac_wraps_a_secret_id_and_unwraps_it_with_the_wrapping_token(
    broker: BrokerThread, client: hvac.Client, api: Api, role: str
) -> None:
    wrapped = client.auth.approle.generate_secret_id("x", wrap_ttl="120s")
    token = wrapped["wrap_info"]["token"]
    # A client holding only the wrapping token unwraps with it as its own token.
    answer = make_client(broker, token).sys.unwrap()
    assert answer["data"]["secret_id_accessor"] in _secret_id_accessors(api, role)
    assert api.request("POST", "auth/token/lookup", json={"token": token}).status_code == 403


def test_wrap_lookup_rewrap_and_unwrap_over_http(api: Api) -> None:
    wrapped = api.request(
        "POST", "sys/wrapping/wrap", headers={"X-Vault-Wrap-TTL": "90"}, json={"a": "b", "n": 1}
    )
    assert wrapped.status_code == 200, wrapped.text
    body = wrapped.json()
    assert body["data"] is None and body["auth"] is None and body["lease_id"] == ""
    info = body["wrap_info"]
    assert info["creation_path"] == "sys/wrapping/wrap" and info["ttl"] == 90
    assert "wrapped_accessor" not in info

    # Lookup needs no token, and does not spend the wrapping token's use.
    for _ in range(2):
        looked = api.request(
            "POST", "sys/wrapping/lookup", token=None, json={"token": info["token"]}
        )
        assert looked.status_code == 200, looked.text
        assert looked.json()["data"] == {
            "creation_path": "sys/wrapping/wrap",
            "creation_time": info["creation_time"],
            "creation_ttl": 90,
        }
    as_header = api.request("GET", "sys/wrapping/lookup", token=info["token"])
    assert as_header.json()["data"]["creation_ttl"] == 90

    rewrapped = api.request("POST", "sys/wrapping/rewrap", json={"token": info["token"]})
    assert rewrapped.status_code == 200, rewrapped.text
    fresh = rewrapped.json()["wrap_info"]
    assert fresh["token"] != info["token"] and fresh["ttl"] == 90
    assert fresh["creation_path"] == "sys/wrapping/wrap"
    old = api.request("POST", "sys/wrapping/unwrap", json={"token": info["token"]})
    assert old.status_code == 400 and old.json()["errors"] == [INVALID]

    unwrapped = api.request("POST", "sys/wrapping/unwrap", token=fresh["token"])
    assert unwrapped.status_code == 200, unwrapped.text
    assert unwrapped.json()["data"] == {"a": "b", "n": 1}
    assert unwrapped.json()["request_id"] == body["request_id"]  # the original answer
    second = api.request("POST", "sys/wrapping/unwrap", token=fresh["token"])
    assert second.status_code == 400 and second.json()["errors"] == [INVALID]


def test_wrapping_refusals_and_header_values(api: Api) -> None:
    # sys/wrapping/wrap without a wrap TTL.
    bare = api.request("POST", "sys/wrapping/wrap", json={"a": "b"})
    assert bare.status_code == 400
    assert bare.json()["errors"][0].startswith("endpoint requires response wrapping to be used")
    # A normal token is not a wrapping token.
    plain = api.request("POST", "sys/wrapping/unwrap")
    assert plain.status_code == 400 and plain.json()["errors"] == [INVALID]
    empty = api.request("POST", "sys/wrapping/unwrap", json={"token": ""})
    assert empty.status_code == 403
    assert empty.json()["errors"] == [
        "error validating wrapping token: empty token in request body"
    ]
    # A wrapping token can do nothing but be unwrapped, looked up or rewrapped.
    token = api.request(
        "POST", "sys/wrapping/wrap", headers={"X-Vault-Wrap-TTL": "1m"}, json={"x": 1}
    ).json()["wrap_info"]["token"]
    assert api.request("GET", "auth/token/lookup-self", token=token).status_code == 403
    # Vault's own errors for a header it cannot read.
    bad = api.request("GET", "sys/health", headers={"X-Vault-Wrap-TTL": "soon"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0].startswith("error parsing X-Vault-Wrap-TTL header: ")
    negative = api.request("GET", "sys/health", headers={"X-Vault-Wrap-TTL": "-5s"})
    assert negative.json()["errors"] == [
        "error parsing X-Vault-Wrap-TTL header: requested wrap ttl cannot be negative"
    ]
    # A zero TTL asks for no wrapping, in Vault too.
    zero = api.request("GET", "auth/token/lookup-self", headers={"X-Vault-Wrap-TTL": "0"})
    assert zero.status_code == 200 and zero.json()["wrap_info"] is None
    # An error is answered as an error, never wrapped.
    missing = api.request("GET", "auth/token/roles/nope", headers={"X-Vault-Wrap-TTL": "1m"})
    assert missing.status_code in (400, 404, 405) and "wrap_info" not in missing.json()


def test_a_wrapping_token_expires_with_its_cubbyhole(api: Api, broker: BrokerThread) -> None:
    marker = "cubbyhole-marker-8c1f0b"
    info = api.request(
        "POST", "sys/wrapping/wrap", headers={"X-Vault-Wrap-TTL": "2s"}, json={"m": marker}
    ).json()["wrap_info"]
    assert marker.encode() not in broker.storage_bytes()  # encrypted at rest

    def gone() -> bool:
        accessor = {"accessor": info["accessor"]}
        found = api.request("POST", "auth/token/lookup-accessor", json=accessor)
        return found.status_code == 400

    wait_until_sync(gone, timeout=15, interval=0.2)
    looked = api.request("POST", "sys/wrapping/lookup", token=None, json={"token": info["token"]})
    assert looked.status_code == 400 and looked.json()["errors"] == [INVALID]


def test_audit_hashes_the_wrapping_token_and_the_unwrapped_secret(
    bao: Bao, api: Api, role: str, tmp_path: Path
) -> None:
    log = tmp_path / "audit.log"
    assert bao("audit", "enable", "file", f"file_path={log}").code == 0
    info = _json(bao("write", "-format=json", "-f", "-wrap-ttl=60s", f"{role}/secret-id"))[
        "wrap_info"
    ]
    secret_id = _json(bao("unwrap", "-format=json", info["token"]))["data"]["secret_id"]
    text = log.read_text()
    assert info["token"] not in text and secret_id not in text
    lines = [json.loads(line) for line in text.splitlines()]
    wrapped = [
        e for e in lines if e["type"] == "response" and e["response"].get("wrap_info") is not None
    ]
    assert len(wrapped) == 1
    recorded = wrapped[0]["response"]["wrap_info"]
    assert recorded["token"].startswith("hmac-sha256:")
    assert recorded["creation_path"] == f"{role}/secret-id" and recorded["ttl"] == 60
    unwrap = [
        e
        for e in lines
        if e["type"] == "response" and e["request"]["path"] == "sys/wrapping/unwrap"
    ]
    assert unwrap[0]["response"]["data"]["data"]["secret_id"].startswith("hmac-sha256:")


def test_hvac_wrap_and_the_cli_s_wrapping_fields(
    client: hvac.Client, bao: Bao, api: Api, role: str
) -> None:
    wrapped = client.sys.wrap(payload={"k": "v"}, ttl=60)
    assert wrapped["wrap_info"]["ttl"] == 60
    assert client.sys.unwrap(wrapped["wrap_info"]["token"])["data"] == {"k": "v"}

    # The CLI's table of a wrapped answer, and -field=wrapping_token for scripts.
    table_run = bao("write", "-wrap-ttl=10m", "-f", f"{role}/secret-id")
    assert table_run.code == 0, table_run.stderr
    lines = table_run.stdout.splitlines()[2:]
    rows = {k.rstrip(":"): v.strip() for k, v in (line.split(None, 1) for line in lines)}
    assert rows["wrapping_token_ttl"] == "10m" and rows["wrapping_token"].startswith("s.")
    assert rows["wrapping_token_creation_path"] == f"{role}/secret-id"
    assert rows["wrapped_accessor"] in _secret_id_accessors(api, role)
    field = bao("write", "-wrap-ttl=10m", "-field=wrapping_token", "-f", f"{role}/secret-id")
    token = field.stdout.strip()
    assert field.code == 0 and token.startswith("s.")
    looked = api.request("POST", "sys/wrapping/lookup", token=None, json={"token": token})
    assert looked.json()["data"]["creation_path"] == f"{role}/secret-id"


def test_policy_wrapping_ttl_bounds_are_enforced(bao: Bao, api: Api, role: str) -> None:
    policy = f'''
path "{role}/secret-id" {{
  capabilities = ["update"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "10m"
}}
'''
    written = api.request("PUT", "sys/policies/acl/wrapped-only", json={"policy": policy})
    assert written.status_code == 204, written.text
    token = api.request("POST", "auth/token/create", json={"policies": ["wrapped-only"]}).json()[
        "auth"
    ]["client_token"]
    run = bao("write", "-f", f"{role}/secret-id", token=token)  # not wrapped: denied
    assert run.code != 0 and "Code: 403" in run.stderr
    run = bao("write", "-f", "-wrap-ttl=30s", f"{role}/secret-id", token=token)  # below min
    assert run.code != 0 and "Code: 403" in run.stderr
    run = bao("write", "-f", "-wrap-ttl=1h", f"{role}/secret-id", token=token)  # above max
    assert run.code != 0 and "Code: 403" in run.stderr
    run = bao("write", "-format=json", "-f", "-wrap-ttl=5m", f"{role}/secret-id", token=token)
    assert _json(run)["wrap_info"]["ttl"] == 300
    bad = api.request(
        "PUT",
        "sys/policies/acl/bad",
        json={
            "policy": 'path "x" { capabilities = ["read"]\n min_wrapping_ttl = "1h"\n '
            'max_wrapping_ttl = "1m" }'
        },
    )
    assert bad.status_code == 400
    assert "max_wrapping_ttl cannot be less than min_wrapping_ttl" in bad.json()["errors"][0]
