"""Response wrapping is not served yet, so a request that asks for it is refused with 400
before anything runs: a secret id (or a password) is never handed out in clear to a
client that asked for it wrapped."""

from __future__ import annotations

import hvac
import hvac.exceptions
import pytest

from tests.e2e.conftest import Api, Bao

REFUSED = "response wrapping is not supported by this server yet"


@pytest.fixture
def role(bao: Bao) -> str:
    assert bao("auth", "enable", "approle").code == 0
    assert bao("write", "auth/approle/role/x", "token_policies=default").code == 0
    return "auth/approle/role/x"


def _secret_id_accessors(api: Api, role: str) -> list[str]:
    listed = api.request("LIST", f"{role}/secret-id")
    if listed.status_code == 404:
        return []
    assert listed.status_code == 200, listed.text
    keys: list[str] = listed.json()["data"]["keys"]
    return keys


def test_bao_wrap_ttl_on_a_secret_id_is_refused_and_nothing_is_issued(
    bao: Bao, api: Api, role: str
) -> None:
    run = bao("write", "-f", "-wrap-ttl=60s", f"{role}/secret-id")
    assert run.code != 0
    assert "Code: 400" in run.stderr and REFUSED in run.flat_stderr
    assert "-wrap-ttl" in run.flat_stderr
    assert "secret_id" not in run.stdout
    assert _secret_id_accessors(api, role) == []
    # Without the flag, the same command works.
    assert bao("write", "-f", f"{role}/secret-id").code == 0
    assert len(_secret_id_accessors(api, role)) == 1


def test_bao_read_with_wrap_ttl_is_refused(bao: Bao) -> None:
    run = bao("read", "-wrap-ttl=5m", "auth/token/lookup-self")
    assert run.code != 0 and "Code: 400" in run.stderr and REFUSED in run.flat_stderr
    assert "root" not in run.stdout


def test_hvac_wrap_ttl_is_refused(client: hvac.Client, api: Api, role: str) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest, match=REFUSED):
        client.auth.approle.generate_secret_id("x", wrap_ttl="120s")
    assert _secret_id_accessors(api, role) == []


def test_wrap_ttl_parameter_and_bad_header_values(api: Api, role: str) -> None:
    # The parameter, in the body or the query string.
    body = api.request("POST", f"{role}/secret-id", json={"wrap_ttl": "60s"})
    assert body.status_code == 400 and REFUSED in body.json()["errors"][0]
    assert "wrap_ttl" in body.json()["errors"][0]
    query = api.request("GET", "auth/token/lookup-self?wrap_ttl=60")
    assert query.status_code == 400 and REFUSED in query.json()["errors"][0]
    assert _secret_id_accessors(api, role) == []
    # Refused before any authentication: no token needed to learn it.
    anonymous = api.request("GET", "sys/health", token=None, headers={"X-Vault-Wrap-TTL": "1m"})
    assert anonymous.status_code == 400 and REFUSED in anonymous.json()["errors"][0]
    # Vault's own errors for a header it cannot read.
    bad = api.request("GET", "sys/health", headers={"X-Vault-Wrap-TTL": "soon"})
    assert bad.status_code == 400
    assert bad.json()["errors"][0].startswith("error parsing X-Vault-Wrap-TTL header: ")
    negative = api.request("GET", "sys/health", headers={"X-Vault-Wrap-TTL": "-5s"})
    assert negative.status_code == 400
    assert negative.json()["errors"] == [
        "error parsing X-Vault-Wrap-TTL header: requested wrap ttl cannot be negative"
    ]
    # A zero TTL asks for no wrapping, in Vault too.
    zero = api.request("GET", "sys/health", headers={"X-Vault-Wrap-TTL": "0"})
    assert zero.status_code == 200
