"""The jwt/oidc method's checks over real HTTP: the emulator's authorization-code flow
(PKCE, one-use codes, nonce and groups in the id token) and the broker's JWT login rules
(signature, exp/nbf with leeway, audience, subject, default_role) with a key of our own."""

from __future__ import annotations

import base64
import hashlib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator import EmulatorSettings, ThreadedEmulator
from tests.broker_thread import ROOT_TOKEN, BrokerThread

TENANT = "5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
CLIENT = "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"
SECRET = "flow~secret~kept-out-of-logs"
REDIRECT = "http://localhost:8250/oidc/callback"
VERIFIER = "v" * 50


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEmulator]:
    settings = EmulatorSettings(
        tenant_id=TENANT, client_id=CLIENT, client_secret=SECRET, users=["dana@example.test"]
    )
    with ThreadedEmulator(settings, tmp_path_factory.mktemp("certs")) as server:
        yield server


def http(emu: ThreadedEmulator) -> httpx.Client:
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    return httpx.Client(verify=context, trust_env=False, timeout=30, base_url=emu.base_url)


def authorize(client: httpx.Client, **extra: str) -> httpx.Response:
    params = {
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "openid",
        "state": "s1",
        "nonce": "n1",
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
        "login_hint": "dana@example.test",
        **extra,
    }
    return client.get(f"/{TENANT}/oauth2/v2.0/authorize", params=params)


def redeem(client: httpx.Client, code: str, verifier: str = VERIFIER) -> httpx.Response:
    return client.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "authorization_code",
            "client_id": CLIENT,
            "client_secret": SECRET,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )


def test_authorization_code_flow_with_pkce(emu: ThreadedEmulator) -> None:
    with http(emu) as client:
        client.post("/_emulator/groups", json={"displayName": "Flow", "id": "f" * 8})
        client.post(f"/_emulator/groups/{'f' * 8}/members", json={"user": "dana@example.test"})
        answer = authorize(client)
        assert answer.status_code == 302
        back = parse_qs(urlsplit(answer.headers["Location"]).query)
        assert back["state"] == ["s1"]
        wrong = redeem(client, back["code"][0], verifier="w" * 50)
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        # The failed attempt spent the code (it is single use either way): a new one.
        back = parse_qs(urlsplit(authorize(client).headers["Location"]).query)
        tokens = redeem(client, back["code"][0])
        assert tokens.status_code == 200, tokens.text
        again = redeem(client, back["code"][0])
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        keys = client.get(f"/{TENANT}/discovery/v2.0/keys").json()
    id_token = tokens.json()["id_token"]
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(jwt.PyJWK(k) for k in keys["keys"] if k["kid"] == kid)
    claims = jwt.decode(id_token, key.key, algorithms=["RS256"], audience=CLIENT)
    assert claims["nonce"] == "n1"
    assert claims["groups"] == ["f" * 8]
    assert claims["preferred_username"] == "dana@example.test"
    assert claims["iss"] == f"{emu.base_url}/{TENANT}/v2.0"


def test_authorize_without_a_signed_in_user_says_how_to_sign_one_in(emu: ThreadedEmulator) -> None:
    with http(emu) as client:
        answer = authorize(client, login_hint="")
        client.put("/_emulator/signed-in", json={"user": "dana@example.test"})
        chosen = authorize(client, login_hint="")
        client.put("/_emulator/signed-in", json={"user": None})
    assert answer.status_code == 400
    assert "/_emulator/signed-in" in answer.json()["error_description"]
    assert chosen.status_code == 302


# -- the broker's JWT login, with a key of our own (jwt_validation_pubkeys) ------------------


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def broker(tmp_path: Path, key: rsa.RSAPrivateKey) -> Iterator[httpx.Client]:
    thread = BrokerThread(tmp_path / "broker").start()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with httpx.Client(
        base_url=f"{thread.url}/v1", headers={"X-Vault-Token": ROOT_TOKEN}, trust_env=False
    ) as client:
        assert client.post("sys/auth/jwt", json={"type": "jwt"}).status_code == 204
        written = client.post(
            "auth/jwt/config",
            json={
                "jwt_validation_pubkeys": [pem.decode()],
                "bound_issuer": "https://issuer.test",
                "default_role": "ci",
            },
        )
        assert written.status_code == 204, written.text
        role = client.post(
            "auth/jwt/role/ci",
            json={
                "role_type": "jwt",
                "user_claim": "sub",
                "bound_audiences": ["api://broker"],
                "bound_subject": "repo:main",
                "token_policies": ["ci"],
                "expiration_leeway": 0,
                "not_before_leeway": 0,
                "clock_skew_leeway": 0,
            },
        )
        assert role.status_code == 204, role.text
        yield client
    thread.stop()


def token(key: rsa.RSAPrivateKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": "https://issuer.test",
        "aud": "api://broker",
        "sub": "repo:main",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        **overrides,
    }
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="RS256")


def login(client: httpx.Client, jwt_text: str) -> httpx.Response:
    return client.post("auth/jwt/login", json={"jwt": jwt_text}, headers={"X-Vault-Token": ""})


def test_a_valid_token_logs_in_with_the_default_role(
    broker: httpx.Client, key: rsa.RSAPrivateKey
) -> None:
    answer = login(broker, token(key))
    assert answer.status_code == 200, answer.text
    assert answer.json()["auth"]["policies"] == ["ci", "default"]
    assert answer.json()["auth"]["metadata"] == {"role": "ci"}


@pytest.mark.parametrize(
    ("overrides", "sentence"),
    [
        # Times as offsets from now, taken when the test runs (not at collection).
        ({"exp": -30}, "token is expired"),
        ({"nbf": 600}, "not valid yet"),
        ({"aud": "api://other"}, "aud claim does not match any bound audience"),
        ({"sub": "repo:fork"}, "sub claim does not match bound subject"),
        ({"iss": "https://evil.test"}, "issuer"),
    ],
)
def test_a_token_failing_a_check_is_refused(
    broker: httpx.Client, key: rsa.RSAPrivateKey, overrides: dict[str, Any], sentence: str
) -> None:
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "nbf") else v for k, v in overrides.items()}
    answer = login(broker, token(key, **claims))
    assert answer.status_code == 400
    assert sentence in answer.json()["errors"][0]


def test_a_token_signed_by_another_key_is_refused(broker: httpx.Client) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    answer = login(broker, token(other))
    assert answer.status_code == 400
    assert "failed to verify id token signature" in answer.json()["errors"][0]


def test_config_needs_exactly_one_key_source(broker: httpx.Client) -> None:
    answer = broker.post(
        "auth/jwt/config",
        json={"jwks_url": "https://127.0.0.1:9/keys", "jwt_validation_pubkeys": ["x"]},
    )
    assert answer.status_code == 400
    assert "exactly one of" in answer.json()["errors"][0]


def test_a_jwt_login_token_renews_while_its_role_lasts(
    broker: httpx.Client, key: rsa.RSAPrivateKey
) -> None:
    client_token = login(broker, token(key)).json()["auth"]["client_token"]
    own = {"X-Vault-Token": client_token}
    renewed = broker.post("auth/token/renew-self", json={}, headers=own)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["auth"]["policies"] == ["ci", "default"]
    assert broker.delete("auth/jwt/role/ci").status_code == 204
    refused = broker.post("auth/token/renew-self", json={}, headers=own)
    assert refused.status_code == 400
    assert 'role "ci" no longer exists' in refused.json()["errors"][0]


def test_a_config_write_replaces_the_whole_config(broker: httpx.Client) -> None:
    before = broker.get("auth/jwt/config").json()["data"]
    assert before["default_role"] == "ci"
    pubkeys = before["jwt_validation_pubkeys"]
    assert (
        broker.post("auth/jwt/config", json={"jwt_validation_pubkeys": pubkeys}).status_code == 204
    )
    after = broker.get("auth/jwt/config").json()["data"]
    assert after["default_role"] == "" and after["bound_issuer"] == ""
    assert after["jwt_validation_pubkeys"] == pubkeys
