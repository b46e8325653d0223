"""The Entra emulator over real HTTPS: msal, the password grant, Graph, faults, admin, CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import stat
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import msal
import pytest
import requests
from cryptography import x509

from emulator import (
    EmulatorServer,
    EmulatorSettings,
    PasswordCheckError,
    ThreadedEmulator,
    check_password,
)
from emulator.keys import TOKENS_KEY
from tests.waiting import wait_until

TENANT = "0b7e2f4c-1111-4000-8000-00000000cafe"
CLIENT = "6d1f9a2b-2222-4000-8000-00000000beef"
SECRET = "emulator~test~secret-0123456789abcdef"
ALICE, BOB, CAROL = "alice@example.test", "bob@example.test", "carol@example.test"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GOOD_PASSWORD = "Correct-Horse-Battery-9"
ROOT = Path(__file__).resolve().parents[2]


def settings(**overrides: Any) -> EmulatorSettings:
    values: dict[str, Any] = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "users": [ALICE, BOB, CAROL],
    }
    values.update(overrides)
    return EmulatorSettings(**values)


def tls(ca_path: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_path))


@pytest.fixture
async def emu(tmp_path):
    async with EmulatorServer(settings(hostnames=["emulator.test"]), cert_dir=tmp_path) as server:
        yield server


@pytest.fixture
async def client(emu):
    async with httpx.AsyncClient(
        base_url=emu.base_url, verify=tls(emu.ca_path), trust_env=False, timeout=10.0
    ) as http:
        yield http


async def app_token(client: httpx.AsyncClient, **form: str) -> str:
    data = {
        "grant_type": "client_credentials",
        "client_id": CLIENT,
        "client_secret": SECRET,
        "scope": GRAPH_SCOPE,
        **form,
    }
    response = await client.post(f"/{TENANT}/oauth2/v2.0/token", data=data)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.fixture
async def graph(client):
    """Calls Graph with a fresh app token carrying the app's current permissions."""

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = await app_token(client)
        headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
        return await client.request(method, path, headers=headers, **kwargs)

    return call


async def set_roles(client: httpx.AsyncClient, roles: list[str]) -> None:
    response = await client.put("/_emulator/permissions", json={"roles": roles})
    assert response.status_code == 200 and response.json() == {"roles": roles}


async def set_password(graph, user: str, password: str, **profile: Any) -> httpx.Response:
    body = {"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False}}
    body["passwordProfile"].update(profile)
    return await graph("PATCH", f"/v1.0/users/{user}", json=body)


async def signs_in(emu: EmulatorServer, user: str, password: str) -> bool:
    return await check_password(emu.base_url, TENANT, CLIENT, user, password, emu.ca_path)


def graph_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    inner = error["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert inner["request-id"] == response.headers["request-id"]
    assert inner["client-request-id"] == response.headers["client-request-id"]
    return dict(error)


def oauth_error(response: httpx.Response, status: int, error: str, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert {"timestamp", "trace_id", "correlation_id"} <= set(body)
    return dict(body)


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


# -- certificates and discovery ------------------------------------------------------


async def test_certificates_cover_the_default_and_extra_names(emu, tmp_path):
    assert emu.ca_path == tmp_path / "ca.pem" and emu.ca_path.is_file()
    assert stat.S_IMODE((tmp_path / "server-key.pem").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((tmp_path / "server.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = set(names.get_values_for_type(x509.DNSName))
    ips = {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert {"localhost", "emulator.test"} <= dns and {"127.0.0.1", "::1"} <= ips
    # The CA verifies the server under another of its names, too.
    async with httpx.AsyncClient(verify=tls(emu.ca_path), trust_env=False) as http:
        response = await http.get(f"https://localhost:{emu.port}/_emulator/health")
    assert response.json()["status"] == "ok"


async def test_openid_configuration_is_built_from_the_host_header(emu, client):
    response = await client.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")
    assert response.status_code == 200
    doc = response.json()
    base = emu.base_url
    assert doc["issuer"] == f"{base}/{TENANT}/v2.0"
    assert doc["token_endpoint"] == f"{base}/{TENANT}/oauth2/v2.0/token"
    assert doc["authorization_endpoint"] == f"{base}/{TENANT}/oauth2/v2.0/authorize"
    assert doc["jwks_uri"] == f"{base}/{TENANT}/discovery/v2.0/keys"
    assert "client_secret_post" in doc["token_endpoint_auth_methods_supported"]

    async with httpx.AsyncClient(verify=tls(emu.ca_path), trust_env=False) as http:
        other = await http.get(
            f"https://localhost:{emu.port}/{TENANT}/v2.0/.well-known/openid-configuration"
        )
    assert other.json()["token_endpoint"].startswith(f"https://localhost:{emu.port}/")


async def test_unknown_tenant_is_aadsts90002(client):
    response = await client.get(
        "/11111111-2222-4333-8444-555555555555/v2.0/.well-known/openid-configuration"
    )
    body = oauth_error(response, 400, "invalid_tenant", 90002)
    assert "11111111-2222-4333-8444-555555555555" in body["error_description"]
    # A user's domain names the tenant as well, as in Entra.
    by_domain = await client.get("/example.test/v2.0/.well-known/openid-configuration")
    assert by_domain.json()["token_endpoint"].endswith(f"/{TENANT}/oauth2/v2.0/token")


async def test_user_realm_says_managed(client):
    response = await client.get(f"/common/userrealm/{ALICE}", params={"api-version": "1.0"})
    body = response.json()
    assert body["ver"] == "1.0" and body["account_type"] == "Managed"
    assert body["domain_name"] == "example.test"


async def test_tokens_verify_against_the_jwks(client):
    token = await app_token(client)
    doc = (await client.get(f"/{TENANT}/v2.0/.well-known/openid-configuration")).json()
    jwks = (await client.get(urlsplit(doc["jwks_uri"]).path)).json()
    key = jwt.PyJWK(jwks["keys"][0])
    verified = jwt.decode(
        token, key.key, algorithms=["RS256"], audience="https://graph.microsoft.com"
    )
    assert verified["tid"] == TENANT and verified["iss"] == doc["issuer"]


# -- msal ----------------------------------------------------------------------------


def _msal_session(ca_path: Path) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # else REQUESTS_CA_BUNDLE silently replaces verify=
    session.verify = str(ca_path)
    return session


def _msal_client_credentials(base_url: str, ca_path: Path, secret: str) -> dict[str, Any]:
    with _msal_session(ca_path) as session:
        app = msal.ConfidentialClientApplication(
            CLIENT,
            client_credential=secret,
            authority=f"{base_url}/{TENANT}",
            instance_discovery=False,
            http_client=session,
        )
        return dict(app.acquire_token_for_client(scopes=[GRAPH_SCOPE]))


async def test_msal_client_credentials(emu):
    result = await asyncio.to_thread(_msal_client_credentials, emu.base_url, emu.ca_path, SECRET)
    assert "access_token" in result, result
    assert result["token_type"] == "Bearer" and result["token_source"] == "identity_provider"
    token = claims(result["access_token"])
    assert token["aud"] == "https://graph.microsoft.com"
    assert token["tid"] == TENANT and token["appid"] == CLIENT and token["azp"] == CLIENT
    assert token["roles"] == ["User.ReadWrite.All"]
    assert token["iss"] == f"{emu.base_url}/{TENANT}/v2.0"
    assert token["oid"] and token["exp"] > token["iat"] == token["nbf"]


async def test_msal_wrong_secret_is_aadsts7000215(emu):
    wrong = "not-the-secret-at-all"
    result = await asyncio.to_thread(_msal_client_credentials, emu.base_url, emu.ca_path, wrong)
    assert "access_token" not in result
    assert result["error"] == "invalid_client" and result["error_codes"] == [7000215]
    assert wrong not in str(result) and SECRET not in str(result)


def _msal_password(base_url: str, ca_path: Path, username: str, password: str) -> dict[str, Any]:
    with _msal_session(ca_path) as session:
        app = msal.ConfidentialClientApplication(
            CLIENT,
            client_credential=SECRET,
            authority=f"{base_url}/{TENANT}",
            instance_discovery=False,
            http_client=session,
        )
        return dict(app.acquire_token_by_username_password(username, password, [GRAPH_SCOPE]))


async def test_msal_password_grant_after_a_graph_reset(emu, graph, monkeypatch):
    # msal asks https://<host>/common/userrealm/… with the port dropped (it uses the
    # authority's hostname), which reaches nothing here; hosts in this set skip that call.
    monkeypatch.setattr(
        msal.authority.Authority, "_domains_without_user_realm_discovery", {"127.0.0.1"}
    )
    assert (await set_password(graph, ALICE, GOOD_PASSWORD)).status_code == 204
    result = await asyncio.to_thread(
        _msal_password, emu.base_url, emu.ca_path, ALICE, GOOD_PASSWORD
    )
    assert "access_token" in result, result
    assert result["id_token_claims"]["preferred_username"] == ALICE
    token = claims(result["access_token"])
    assert token["upn"] == ALICE and "scp" in token and "roles" not in token


# -- the token endpoint ----------------------------------------------------------------


async def test_client_credentials_response_and_claims(client):
    response = await client.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT,
            "client_secret": SECRET,
            "scope": GRAPH_SCOPE,
        },
    )
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert response.headers["x-ms-request-id"]


async def test_client_secret_by_http_basic(client):
    response = await client.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": GRAPH_SCOPE},
        auth=(CLIENT, SECRET),
    )
    assert response.status_code == 200 and claims(response.json()["access_token"])["roles"]


async def test_token_endpoint_errors(client):
    url = f"/{TENANT}/oauth2/v2.0/token"
    base = {"grant_type": "client_credentials", "client_id": CLIENT, "scope": GRAPH_SCOPE}
    unknown = await client.post(url, data={**base, "client_id": "nobody", "client_secret": SECRET})
    body = oauth_error(unknown, 400, "unauthorized_client", 700016)
    assert "Application with identifier 'nobody' was not found" in body["error_description"]

    wrong = await client.post(url, data={**base, "client_secret": "wrong"})
    oauth_error(wrong, 401, "invalid_client", 7000215)

    missing = await client.post(url, data=base)
    oauth_error(missing, 401, "invalid_client", 7000216)

    scope = await client.post(url, data={**base, "client_secret": SECRET, "scope": "User.Read"})
    oauth_error(scope, 400, "invalid_scope", 1002012)

    grant = await client.post(url, data={**base, "grant_type": "refresh_token"})
    oauth_error(grant, 400, "unsupported_grant_type", 70003)

    correlated = await client.post(
        url, data={**base, "client_secret": "wrong"}, headers={"client-request-id": "abc-123"}
    )
    assert correlated.json()["correlation_id"] == "abc-123"


async def test_roles_follow_the_granted_permissions(client):
    await set_roles(client, ["User-PasswordProfile.ReadWrite.All", "User.Read.All"])
    assert claims(await app_token(client))["roles"] == [
        "User-PasswordProfile.ReadWrite.All",
        "User.Read.All",
    ]
    await set_roles(client, [])
    assert "roles" not in claims(await app_token(client))  # Entra leaves it out entirely


async def test_password_grant_outcomes(emu, client, graph):
    assert not await signs_in(emu, ALICE, GOOD_PASSWORD)  # the initial password is random
    assert (await set_password(graph, ALICE, GOOD_PASSWORD)).status_code == 204
    assert await signs_in(emu, ALICE, GOOD_PASSWORD)
    assert await signs_in(emu, ALICE.upper(), GOOD_PASSWORD)
    assert not await signs_in(emu, ALICE, GOOD_PASSWORD.lower())

    url = f"/{TENANT}/oauth2/v2.0/token"
    form = {"grant_type": "password", "client_id": CLIENT, "scope": GRAPH_SCOPE}
    wrong = await client.post(url, data={**form, "username": ALICE, "password": "Nope-1234"})
    oauth_error(wrong, 400, "invalid_grant", 50126)
    ghost = await client.post(
        url, data={**form, "username": "ghost@example.test", "password": GOOD_PASSWORD}
    )
    oauth_error(ghost, 400, "invalid_grant", 50034)

    ok = await client.post(url, data={**form, "username": ALICE, "password": GOOD_PASSWORD})
    token = claims(ok.json()["access_token"])
    assert token["upn"] == ALICE and token["scp"] and "roles" not in token


async def test_revoked_password_stops_signing_in(emu, graph):
    await set_password(graph, BOB, GOOD_PASSWORD)
    assert await signs_in(emu, BOB, GOOD_PASSWORD)
    await set_password(graph, BOB, "Another-Pass-42")
    assert not await signs_in(emu, BOB, GOOD_PASSWORD)
    assert await signs_in(emu, BOB, "Another-Pass-42")


async def test_force_change_makes_the_password_expired(emu, client, graph):
    response = await set_password(graph, CAROL, GOOD_PASSWORD, forceChangePasswordNextSignIn=True)
    assert response.status_code == 204
    expired = await client.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "client_id": CLIENT,
            "scope": GRAPH_SCOPE,
            "username": CAROL,
            "password": GOOD_PASSWORD,
        },
    )
    oauth_error(expired, 400, "invalid_grant", 50055)


async def test_check_password_raises_on_anything_but_a_verdict(emu, client):
    await client.post("/_emulator/faults", json={"match": "token", "status": 503, "count": 1})
    with pytest.raises(PasswordCheckError) as caught:
        await signs_in(emu, ALICE, "Secret-Password-77")
    assert "503" in str(caught.value) and "Secret-Password-77" not in str(caught.value)


# -- Graph: authentication and permissions --------------------------------------------


async def test_graph_without_or_with_a_bad_token_is_401(emu, client):
    missing = await client.get("/v1.0/users", headers={"client-request-id": "my-id-1"})
    error = graph_error(missing, 401, "InvalidAuthenticationToken")
    assert error["innerError"]["client-request-id"] == "my-id-1"
    assert error["message"] == "Access token validation failure. Invalid audience."

    garbage = await client.get("/v1.0/users", headers={"Authorization": "Bearer eyJnope"})
    graph_error(garbage, 401, "InvalidAuthenticationToken")

    tokens = emu.app[TOKENS_KEY]
    expired = tokens.app_token(
        issuer="x",
        tenant_id=TENANT,
        client_id=CLIENT,
        app_object_id="y",
        roles=["User.ReadWrite.All"],
        lifetime=-120,
    )
    response = await client.get("/v1.0/users", headers={"Authorization": f"Bearer {expired}"})
    graph_error(response, 401, "InvalidAuthenticationToken")

    other_tenant = tokens.app_token(
        issuer="x",
        tenant_id="22222222-2222-4222-8222-222222222222",
        client_id=CLIENT,
        app_object_id="y",
        roles=["User.ReadWrite.All"],
    )
    response = await client.get("/v1.0/users", headers={"Authorization": f"Bearer {other_tenant}"})
    graph_error(response, 401, "InvalidAuthenticationToken")


async def test_a_token_accepted_before_is_refused_once_it_expires(emu, client):
    # Its signature is checked once and remembered; its expiry is judged on every call.
    token = emu.app[TOKENS_KEY].app_token(
        issuer="x",
        tenant_id=TENANT,
        client_id=CLIENT,
        app_object_id="y",
        roles=["User.ReadWrite.All"],
        lifetime=1,
    )
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1.0/users", headers=headers)).status_code == 200

    async def refused() -> bool:
        return (await client.get("/v1.0/users", headers=headers)).status_code == 401

    await wait_until(refused, timeout=5, interval=0.1)


async def test_graph_refuses_tokens_of_another_emulator_and_delegated_tokens(emu, client, graph):
    async with EmulatorServer(settings(), cert_dir=emu.ca_path.parent / "other") as other:
        async with httpx.AsyncClient(
            base_url=other.base_url, verify=tls(other.ca_path), trust_env=False
        ) as other_client:
            foreign = await app_token(other_client)
    response = await client.get("/v1.0/users", headers={"Authorization": f"Bearer {foreign}"})
    graph_error(response, 401, "InvalidAuthenticationToken")

    await set_password(graph, ALICE, GOOD_PASSWORD)
    user = await client.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "client_id": CLIENT,
            "scope": GRAPH_SCOPE,
            "username": ALICE,
            "password": GOOD_PASSWORD,
        },
    )
    delegated = user.json()["access_token"]
    response = await client.get("/v1.0/users", headers={"Authorization": f"Bearer {delegated}"})
    graph_error(response, 401, "InvalidAuthenticationToken")


async def test_permissions_removed_is_403(client, graph):
    await set_roles(client, [])
    denied = graph_error(await graph("GET", "/v1.0/users"), 403, "Authorization_RequestDenied")
    assert denied["message"] == "Insufficient privileges to complete the operation."
    graph_error(await graph("GET", f"/v1.0/users/{ALICE}"), 403, "Authorization_RequestDenied")

    await set_roles(client, ["User.Read.All"])
    assert (await graph("GET", f"/v1.0/users/{ALICE}")).status_code == 200
    graph_error(await set_password(graph, ALICE, GOOD_PASSWORD), 403, "Authorization_RequestDenied")

    await set_roles(client, ["User-PasswordProfile.ReadWrite.All"])
    assert (await set_password(graph, ALICE, GOOD_PASSWORD)).status_code == 204
    # That permission covers passwords only, not other properties.
    graph_error(
        await graph("PATCH", f"/v1.0/users/{ALICE}", json={"displayName": "A"}),
        403,
        "Authorization_RequestDenied",
    )


# -- Graph: users ----------------------------------------------------------------------


async def test_list_users_pages_with_full_next_links(emu, client, graph):
    for i in range(4):
        await client.post("/_emulator/users", json={"userPrincipalName": f"u{i}@example.test"})
    first = await graph("GET", "/v1.0/users", params={"$top": "2", "$select": "userPrincipalName"})
    assert first.status_code == 200
    body = first.json()
    assert body["@odata.context"] == f"{emu.base_url}/v1.0/$metadata#users(id,userPrincipalName)"
    seen = [u["userPrincipalName"] for u in body["value"]]
    pages = 1
    while "@odata.nextLink" in body:
        link = body["@odata.nextLink"]
        assert link.startswith(f"{emu.base_url}/v1.0/users?")
        assert "$skiptoken" in parse_qs(urlsplit(link).query)
        body = (await graph("GET", link)).json()
        seen += [u["userPrincipalName"] for u in body["value"]]
        assert all(set(u) == {"id", "userPrincipalName"} for u in body["value"])
        pages += 1
    assert pages == 4
    assert seen == [ALICE, BOB, CAROL] + [f"u{i}@example.test" for i in range(4)]


async def test_list_users_defaults_and_limits(graph):
    body = (await graph("GET", "/v1.0/users")).json()
    assert len(body["value"]) == 3 and "@odata.nextLink" not in body
    alice = body["value"][0]
    assert {"id", "userPrincipalName", "displayName", "mail", "accountEnabled"} <= set(alice)
    assert "password" not in str(body).lower().replace("passwordprofile", "")
    for top in ("0", "1000", "ten"):
        graph_error(
            await graph("GET", "/v1.0/users", params={"$top": top}), 400, "Request_UnsupportedQuery"
        )
    graph_error(await graph("GET", "/v1.0/users", params={"$select": "nope"}), 400, "BadRequest")


async def test_list_users_filters(graph):
    async def upns(flt: str) -> list[str]:
        response = await graph("GET", "/v1.0/users", params={"$filter": flt})
        assert response.status_code == 200, response.text
        return [u["userPrincipalName"] for u in response.json()["value"]]

    assert await upns("userPrincipalName eq 'ALICE@example.test'") == [ALICE]
    assert await upns("userPrincipalName eq 'nobody@example.test'") == []
    assert await upns("startswith(userPrincipalName,'b')") == [BOB]
    assert await upns("startswith(displayName, 'Ca')") == [CAROL]
    for bad in ("userPrincipalName ne 'x'", "jobTitle eq 'x'", "garbage"):
        response = await graph("GET", "/v1.0/users", params={"$filter": bad})
        assert graph_error(response, 400, "BadRequest")["message"] == "Invalid filter clause"


async def test_get_user_by_id_upn_and_key_form(emu, graph):
    by_upn = await graph("GET", "/v1.0/users/Alice%40Example.Test")
    assert by_upn.status_code == 200
    alice = by_upn.json()
    assert alice["userPrincipalName"] == ALICE and alice["accountEnabled"] is True
    assert alice["@odata.context"] == f"{emu.base_url}/v1.0/$metadata#users/$entity"
    by_id = (await graph("GET", f"/v1.0/users/{alice['id']}")).json()
    assert by_id["id"] == alice["id"]
    key_form = (await graph("GET", f"/v1.0/users('{ALICE}')")).json()
    assert key_form["id"] == alice["id"]
    selected = (
        await graph("GET", f"/v1.0/users/{ALICE}", params={"$select": "displayName"})
    ).json()
    assert set(selected) == {"@odata.context", "id", "displayName"}


async def test_get_unknown_user_is_404(graph):
    error = graph_error(
        await graph("GET", "/v1.0/users/ghost@example.test"), 404, "Request_ResourceNotFound"
    )
    assert error["message"] == (
        "Resource 'ghost@example.test' does not exist or one of its queried "
        "reference-property objects are not present."
    )
    ghost = await set_password(graph, "ghost@example.test", GOOD_PASSWORD)
    graph_error(ghost, 404, "Request_ResourceNotFound")


async def test_patch_counts_password_changes(emu, client, graph):
    user = emu.state.find_user(ALICE)
    assert user is not None and user.password_changes == 0
    assert (await set_password(graph, ALICE, GOOD_PASSWORD)).status_code == 204
    assert (await set_password(graph, user.id, "Second-Pass-77")).status_code == 204
    assert user.password_changes == 2 and user.password_changed_at is not None
    listed = {u["userPrincipalName"]: u for u in (await client.get("/_emulator/users")).json()}
    assert listed[ALICE]["password_changes"] == 2
    assert listed[ALICE]["password_changed_at"] == user.password_changed_at.isoformat()
    assert listed[BOB]["password_changes"] == 0 and listed[BOB]["password_changed_at"] is None


@pytest.mark.parametrize(
    "password",
    [
        "Sh0rt!",  # under 8 characters
        "alllowercaseletters",  # one class
        "lowercase-and-symbols",  # two classes
        "Alice-Password-1",  # contains the alias, case-insensitive
        "Aa1!" * 64 + "x",  # 257 characters
        "Pässwörd-Ünïcode-1",  # outside Entra's character set
    ],
)
async def test_patch_refuses_weak_passwords(emu, graph, password):
    response = await set_password(graph, ALICE, password)
    error = graph_error(response, 400, "Request_BadRequest")
    assert error["message"] == (
        "The specified password does not comply with password complexity requirements. "
        "Please provide a different password."
    )
    assert emu.state.find_user(ALICE).password_changes == 0


@pytest.mark.parametrize(
    "password", ["Abcdefg1", "abcdefg1!", "ABCDEFG-1", "Al-ic1xx", "Aa1!" * 64]
)
async def test_patch_accepts_three_of_four_classes(emu, graph, password):
    assert (await set_password(graph, ALICE, password)).status_code == 204
    assert await signs_in(emu, ALICE, password)


async def test_patch_malformed_json_and_unknown_property(client, graph):
    bad = await graph(
        "PATCH",
        f"/v1.0/users/{ALICE}",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    graph_error(bad, 400, "BadRequest")
    unknown = await graph("PATCH", f"/v1.0/users/{ALICE}", json={"favouriteColour": "blue"})
    graph_error(unknown, 400, "BadRequest")
    read_only = await graph("PATCH", f"/v1.0/users/{ALICE}", json={"id": "x"})
    graph_error(read_only, 400, "BadRequest")


async def test_disabled_user_still_gets_a_password(emu, client, graph):
    disable = await graph("PATCH", f"/v1.0/users/{BOB}", json={"accountEnabled": False})
    assert disable.status_code == 204
    assert (await set_password(graph, BOB, GOOD_PASSWORD)).status_code == 204
    assert emu.state.find_user(BOB).password_changes == 1
    refused = await client.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={
            "grant_type": "password",
            "client_id": CLIENT,
            "scope": GRAPH_SCOPE,
            "username": BOB,
            "password": GOOD_PASSWORD,
        },
    )
    oauth_error(refused, 400, "invalid_grant", 50057)
    await graph("PATCH", f"/v1.0/users/{BOB}", json={"accountEnabled": True})
    assert await signs_in(emu, BOB, GOOD_PASSWORD)
    assert (await graph("GET", f"/v1.0/users/{BOB}")).json()["accountEnabled"] is True


async def test_unknown_graph_paths(graph):
    segment = graph_error(await graph("GET", "/v1.0/groups"), 400, "BadRequest")
    assert segment["message"] == "Resource not found for the segment 'groups'."
    graph_error(await graph("GET", f"/v1.0/users/{ALICE}/memberOf"), 400, "BadRequest")
    graph_error(await graph("DELETE", f"/v1.0/users/{ALICE}"), 405, "Request_BadRequest")


# -- faults ----------------------------------------------------------------------------


async def add_fault(client: httpx.AsyncClient, **spec: Any) -> str:
    response = await client.post("/_emulator/faults", json=spec)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_count_1_throttle_applies_once_with_retry_after(client, graph):
    await add_fault(client, match="PATCH /v1.0/users/.*", status=429, retry_after=2, count=1)
    assert len((await client.get("/_emulator/faults")).json()) == 1
    throttled = await set_password(graph, ALICE, GOOD_PASSWORD)
    graph_error(throttled, 429, "TooManyRequests")
    assert throttled.headers["Retry-After"] == "2"
    assert (await set_password(graph, ALICE, GOOD_PASSWORD)).status_code == 204
    assert (await client.get("/_emulator/faults")).json() == []


async def test_faults_without_a_count_last_until_cleared(client, graph):
    fault_id = await add_fault(client, match=r"^PATCH /v1\.0/users/", status=500)
    for _ in range(3):
        graph_error(await set_password(graph, ALICE, GOOD_PASSWORD), 500, "InternalServerError")
    assert (await graph("GET", f"/v1.0/users/{ALICE}")).status_code == 200  # not matched
    listed = (await client.get("/_emulator/faults")).json()
    assert listed[0]["id"] == fault_id and listed[0]["remaining"] is None
    assert listed[0]["hits"] == 3
    assert (await client.delete("/_emulator/faults")).status_code == 204
    assert (await set_password(graph, ALICE, GOOD_PASSWORD)).status_code == 204


async def test_status_faults_use_the_right_body(client, graph):
    await add_fault(client, match="GET /v1.0/users$", status=503, retry_after=1, count=1)
    graph_error(await graph("GET", "/v1.0/users"), 503, "ServiceUnavailable")
    await add_fault(client, match="GET /v1.0/users$", status=502, count=1)
    graph_error(await graph("GET", "/v1.0/users"), 502, "UnknownError")
    await add_fault(client, match="GET /v1.0/users/", status=404, count=1)
    graph_error(await graph("GET", f"/v1.0/users/{ALICE}"), 404, "Request_ResourceNotFound")

    await add_fault(client, match="POST .*/token$", status=429, retry_after=3, count=1)
    throttled = await client.post(
        f"/{TENANT}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT, "scope": GRAPH_SCOPE},
    )
    oauth_error(throttled, 429, "temporarily_unavailable", 90055)
    assert throttled.headers["Retry-After"] == "3"


async def test_fraction_faults_take_that_share(client, graph):
    await add_fault(client, match="GET /v1.0/users$", status=500, fraction=0.5)
    statuses = [(await graph("GET", "/v1.0/users")).status_code for _ in range(6)]
    assert statuses.count(500) == 3 and statuses.count(200) == 3


async def test_latency_only_faults_delay_then_serve(client, graph):
    await add_fault(client, match="GET /v1.0/users$", latency_ms=300)
    loop = asyncio.get_running_loop()
    for _ in range(2):  # no count: every matching call
        started = loop.time()
        response = await graph("GET", "/v1.0/users")
        assert response.status_code == 200 and loop.time() - started >= 0.3


async def test_timeout_faults_hold_then_drop_the_connection(emu, client):
    await add_fault(client, match="GET /v1.0/users$", timeout=True, count=1)
    with pytest.raises(httpx.ReadTimeout):
        await client.get("/v1.0/users", timeout=0.5)
    await add_fault(client, match="GET /v1.0/users$", timeout=True, hold_seconds=0.2, count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/v1.0/users")
    assert (await client.get("/v1.0/users")).status_code == 401  # served again


async def test_drop_faults_close_the_connection_at_once(emu, client, graph):
    await add_fault(client, match="PATCH /v1.0/users/", drop=True, count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await set_password(graph, ALICE, GOOD_PASSWORD)
    assert emu.state.find_user(ALICE).password_changes == 0  # refused before any effect


@pytest.mark.parametrize(
    "answer", [{"drop": True}, {"timeout": True, "hold_seconds": 0.2}, {"status": 503}]
)
async def test_apply_faults_change_state_then_lose_the_answer(emu, client, graph, answer):
    await add_fault(client, match="PATCH /v1.0/users/", apply=True, count=1, **answer)
    try:
        response = await set_password(graph, ALICE, GOOD_PASSWORD)
    except httpx.TransportError:
        assert "status" not in answer
    else:
        graph_error(response, 503, "ServiceUnavailable")
    # The reset happened although the caller saw it fail.
    assert emu.state.find_user(ALICE).password_changes == 1
    assert await signs_in(emu, ALICE, GOOD_PASSWORD)


async def test_stop_releases_held_calls(tmp_path):
    server = EmulatorServer(settings(), cert_dir=tmp_path)
    await server.start()
    async with httpx.AsyncClient(
        base_url=server.base_url, verify=tls(server.ca_path), trust_env=False, timeout=30
    ) as http:
        await add_fault(http, match="users", timeout=True, hold_seconds=60)
        held = asyncio.create_task(http.get("/v1.0/users"))
        await wait_until(lambda: server.calls["GET /v1.0/users"] == 1, timeout=10)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await asyncio.wait_for(server.stop(), timeout=10)
        assert loop.time() - started < 10
        with pytest.raises(httpx.TransportError):
            await asyncio.wait_for(held, timeout=10)


async def test_faults_never_touch_the_admin_api_and_bad_specs_are_refused(client):
    await add_fault(client, match=".*", status=500)
    assert (await client.get("/_emulator/users")).status_code == 200
    bad = (
        {"status": 429, "count": 0},
        {"match": "("},
        {},
        {"status": 500, "colour": 1},
        {"apply": True, "latency_ms": 5},
        {"drop": "yes"},
    )
    for spec in bad:
        response = await client.post("/_emulator/faults", json=spec)
        assert response.status_code == 400 and response.json()["error"]
    not_json = await client.post("/_emulator/faults", content=b"[")
    assert not_json.status_code == 400


# -- admin API -------------------------------------------------------------------------


async def test_admin_users_never_show_passwords(emu, client, graph):
    await set_password(graph, ALICE, GOOD_PASSWORD)
    response = await client.get("/_emulator/users")
    assert GOOD_PASSWORD not in response.text and SECRET not in response.text
    users = response.json()
    assert [u["userPrincipalName"] for u in users] == [ALICE, BOB, CAROL]
    assert set(users[0]) >= {
        "id",
        "userPrincipalName",
        "displayName",
        "accountEnabled",
        "password_changes",
        "password_changed_at",
    }
    counters = {"password_changes", "password_changed_at"}
    assert all("password" not in key for u in users for key in set(u) - counters)


async def test_admin_create_and_delete_users(emu, client, graph):
    created = await client.post(
        "/_emulator/users",
        json={"userPrincipalName": "dave@example.test", "password": "Secret-Pass-1"},
    )
    assert created.status_code == 201
    dave = created.json()
    assert dave["id"] and dave["displayName"] == "Dave" and "password" not in dave
    assert await signs_in(emu, "dave@example.test", "Secret-Pass-1")
    duplicate = await client.post(
        "/_emulator/users", json={"userPrincipalName": "DAVE@example.test"}
    )
    assert duplicate.status_code == 409
    malformed = await client.post("/_emulator/users", json={"userPrincipalName": "no-at-sign"})
    assert malformed.status_code == 400

    assert (await client.delete(f"/_emulator/users/{dave['id']}")).status_code == 204
    assert (await client.delete("/_emulator/users/dave@example.test")).status_code == 404
    graph_error(
        await graph("GET", "/v1.0/users/dave@example.test"), 404, "Request_ResourceNotFound"
    )
    assert (await client.delete(f"/_emulator/users/{BOB}")).status_code == 204
    graph_error(await set_password(graph, BOB, GOOD_PASSWORD), 404, "Request_ResourceNotFound")


async def test_admin_permissions(client):
    assert (await client.get("/_emulator/permissions")).json() == {"roles": ["User.ReadWrite.All"]}
    await set_roles(client, ["User.Read.All"])
    assert (await client.get("/_emulator/permissions")).json() == {"roles": ["User.Read.All"]}
    bad = await client.put("/_emulator/permissions", json={"roles": "User.Read.All"})
    assert bad.status_code == 400


async def test_admin_call_counters(client, graph):
    assert (await client.delete("/_emulator/calls")).status_code == 204
    await set_password(graph, ALICE, GOOD_PASSWORD)
    await graph("PATCH", f"/v1.0/users('{BOB}')", json={"displayName": "Robert"})
    await graph("GET", "/v1.0/users")
    counts = (await client.get("/_emulator/calls")).json()
    assert counts == {
        "PATCH /v1.0/users/{id}": 2,
        "GET /v1.0/users": 1,
        "POST /{tenant}/oauth2/v2.0/token": 3,
    }
    await client.delete("/_emulator/calls")
    assert (await client.get("/_emulator/calls")).json() == {}


async def test_every_error_is_json(client):
    for method, path in (("GET", "/nowhere"), ("POST", "/_emulator/users/x"), ("GET", "/")):
        response = await client.request(method, path)
        assert response.status_code in (404, 405)
        assert response.headers["Content-Type"].startswith("application/json")
        assert "error" in response.json()


# -- running it: threads and the command line ----------------------------------------


def test_threaded_emulator_for_synchronous_callers(tmp_path):
    with ThreadedEmulator(settings(), tmp_path) as emu:
        assert emu.base_url == f"https://127.0.0.1:{emu.port}"
        with httpx.Client(verify=tls(emu.ca_path), trust_env=False, timeout=10) as http:
            response = http.get(f"{emu.base_url}/{TENANT}/v2.0/.well-known/openid-configuration")
            assert response.status_code == 200
        assert emu.state.find_user(ALICE) is not None
        base_url, ca_path = emu.base_url, emu.ca_path
    assert not any(t.name == "entra-emulator" for t in threading.enumerate())
    with (
        httpx.Client(verify=tls(ca_path), trust_env=False, timeout=2) as http,
        pytest.raises(httpx.ConnectError),
    ):
        http.get(f"{base_url}/_emulator/health")


def test_threaded_emulator_reports_a_failed_start(tmp_path):
    with ThreadedEmulator(settings(), tmp_path) as first:
        second = ThreadedEmulator(settings(), tmp_path / "2", port=first.port)
        with pytest.raises(OSError):
            second.start()


async def _start_cli(tmp_path: Path, *extra: str, secret: str | None = SECRET):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("ENTRA_EMULATOR_CLIENT_SECRET", None)
    if secret is not None:
        env["ENTRA_EMULATOR_CLIENT_SECRET"] = secret
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "--listen",
        "127.0.0.1:0",
        "--cert-dir",
        str(tmp_path / "certs"),
        "--tenant-id",
        TENANT,
        "--client-id",
        CLIENT,
        "--user",
        ALICE,
        "--user",
        BOB,
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=str(tmp_path),
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_cli_serves_until_signalled(tmp_path, signum):
    proc = await _start_cli(tmp_path, "--permission", "User.Read.All", "--hostname", "emu.test")
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=30)).decode()
        ca_path = tmp_path / "certs" / "ca.pem"
        assert line.startswith("Entra emulator listening on https://127.0.0.1:")
        assert line.rstrip().endswith(f"(CA: {ca_path})")
        base_url = line.split()[4]
        async with httpx.AsyncClient(verify=tls(ca_path), trust_env=False, timeout=10) as http:
            response = await http.post(
                f"{base_url}/{TENANT}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": CLIENT,
                    "client_secret": SECRET,
                    "scope": GRAPH_SCOPE,
                },
            )
            assert claims(response.json()["access_token"])["roles"] == ["User.Read.All"]
            users = (await http.get(f"{base_url}/_emulator/users")).json()
            assert [u["userPrincipalName"] for u in users] == [ALICE, BOB]
        proc.send_signal(signum)
        stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, stderr.decode()
    assert SECRET not in (line + stdout.decode() + stderr.decode())


async def test_cli_needs_a_client_secret(tmp_path):
    proc = await _start_cli(tmp_path, secret=None)
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 2
    assert b"ENTRA_EMULATOR_CLIENT_SECRET" in stderr and stdout == b""
