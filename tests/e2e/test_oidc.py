"""Sign in with Entra ID: the jwt/oidc auth method against the emulator, through the real
`bao` CLI (its browser flow, driven by httpx as the browser) and hvac."""

from __future__ import annotations

import html
import json
import re
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import hvac
import pytest

from tests.e2e.conftest import ALICE, BOB, CLIENT, SECRET, TENANT, Api, Bao, Tenant
from tests.waiting import wait_until_sync

ENGINEERS = "0b9e8a7c-6d5f-4e3a-9b2c-1d0e9f8a7b6c"
PASSWORD = "Oidc-Test-Password-1!"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Entra:
    tenant: Tenant
    api: Api

    @property
    def discovery_url(self) -> str:
        return f"{self.tenant.base_url}/{TENANT}/v2.0"

    def http(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.tenant.ca_path))
        return httpx.Client(verify=context, trust_env=False, timeout=30)

    def write(self, path: str, **body: Any) -> httpx.Response:
        response = self.api.request("POST", path, json=body)
        assert response.status_code in (200, 204), response.text
        return response

    def configure(self, mount: str = "oidc") -> None:
        self.write("sys/auth/" + mount, type="oidc")
        self.write(
            f"auth/{mount}/config",
            oidc_discovery_url=self.discovery_url,
            oidc_discovery_ca_pem=self.tenant.ca_path.read_text(),
            oidc_client_id=CLIENT,
            oidc_client_secret=SECRET,
        )

    def id_token(self, upn: str) -> str:
        """An Entra id token for `upn`, from the password grant (aud: the client id)."""
        with self.http() as http:
            answer = http.post(
                f"{self.tenant.base_url}/{TENANT}/oauth2/v2.0/token",
                data={
                    "grant_type": "password",
                    "client_id": CLIENT,
                    "client_secret": SECRET,
                    "username": upn,
                    "password": PASSWORD,
                    "scope": "openid profile",
                },
            )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id_token"])


@pytest.fixture(scope="module")
def directory(emulator: Any) -> Iterator[None]:
    """An Engineers group with alice in it; alice and bob with known passwords."""
    tenant = Tenant(emulator)
    tenant.admin("POST", "groups", {"displayName": "Engineers", "id": ENGINEERS})
    tenant.admin("POST", f"groups/{ENGINEERS}/members", {"user": ALICE})
    for upn in ("oidc-alice@example.test", "oidc-bob@example.test"):
        tenant.admin("POST", "users", {"userPrincipalName": upn, "password": PASSWORD})
    tenant.admin("POST", f"groups/{ENGINEERS}/members", {"user": "oidc-alice@example.test"})
    yield


@pytest.fixture
def entra(tenant: Tenant, api: Api, directory: None) -> Entra:
    return Entra(tenant, api)


def test_config_checks_discovery_and_never_reads_the_secret_back(entra: Entra) -> None:
    entra.configure()
    read = entra.api.request("GET", "auth/oidc/config").json()["data"]
    assert read["oidc_discovery_url"] == entra.discovery_url
    assert read["oidc_client_id"] == CLIENT
    assert "oidc_client_secret" not in read
    assert SECRET not in json.dumps(read)
    # Without the CA the emulator's certificate is not trusted: refused with the reason.
    refused = entra.api.request(
        "POST",
        "auth/oidc/config",
        json={"oidc_discovery_url": entra.discovery_url, "oidc_discovery_ca_pem": ""},
    )
    assert refused.status_code == 400
    assert "error checking oidc discovery URL" in refused.json()["errors"][0]
    wrong = entra.api.request(
        "POST", "auth/oidc/config", json={"oidc_discovery_url": entra.tenant.base_url + "/nope"}
    )
    assert wrong.status_code == 400
    assert "error checking oidc discovery URL" in wrong.json()["errors"][0]


def test_role_needs_redirect_uris_and_user_claim(entra: Entra) -> None:
    entra.configure()
    answer = entra.api.request("POST", "auth/oidc/role/r", json={"token_policies": ["p"]})
    assert answer.status_code == 400
    errors = answer.json()["errors"]
    assert "a user claim must be defined on the role" in errors
    assert any("allowed_redirect_uris" in e for e in errors)
    entra.write(
        "auth/oidc/role/r",
        user_claim="oid",
        allowed_redirect_uris=["http://localhost:8250/oidc/callback"],
        bound_claims={"groups": [ENGINEERS]},
        token_policies=["eng", "ops"],
        token_ttl="1h",
    )
    role = entra.api.request("GET", "auth/oidc/role/r").json()["data"]
    assert role["bound_claims"] == {"groups": [ENGINEERS]}
    assert role["token_policies"] == ["eng", "ops"]
    assert role["token_ttl"] == 3600
    keys = entra.api.request("LIST", "auth/oidc/role").json()["data"]["keys"]
    assert keys == ["r"]


def _jwt_role(entra: Entra, mount: str = "oidc") -> None:
    entra.write(
        f"auth/{mount}/role/dev",
        role_type="jwt",
        user_claim="preferred_username",
        groups_claim="groups",
        bound_audiences=[CLIENT],
        bound_claims={"groups": ENGINEERS},
        claim_mappings={"name": "display_name"},
        token_policies=["dev"],
    )


def test_jwt_login_with_an_entra_token_through_the_cli_write(entra: Entra, bao: Bao) -> None:
    entra.configure("jwt")
    _jwt_role(entra, "jwt")
    token = entra.id_token("oidc-alice@example.test")
    # The CLI has no `-method=jwt` handler (OpenBao's, as Vault's, has oidc only): a JWT
    # login is a write to the login path, as Vault's docs show it.
    run = bao("write", "-format=json", "auth/jwt/login", "role=dev", f"jwt={token}", token=None)
    assert run.code == 0, run.stderr
    auth = json.loads(run.stdout)["auth"]
    assert auth["policies"] == ["default", "dev"]
    assert auth["metadata"]["role"] == "dev"
    # bob is not in the group: bound_claims refuse him.
    bob = entra.id_token("oidc-bob@example.test")
    refused = bao("write", "auth/jwt/login", "role=dev", f"jwt={bob}", token=None)
    assert refused.code != 0
    assert 'claim "groups" is missing' in refused.flat_stderr
    # A token whose signature is broken is refused.
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[::-1]}"
    refused = bao("write", "auth/jwt/login", "role=dev", f"jwt={forged}", token=None)
    assert refused.code != 0
    assert "error validating token" in refused.flat_stderr


def test_jwt_login_through_hvac(entra: Entra, broker: Any) -> None:
    entra.configure("jwt")
    _jwt_role(entra, "jwt")
    client = hvac.Client(url=broker.url, timeout=30)
    answer = client.auth.jwt.jwt_login(
        role="dev", jwt=entra.id_token("oidc-alice@example.test"), path="jwt"
    )
    assert answer["auth"]["policies"] == ["default", "dev"]
    assert answer["auth"]["metadata"]["display_name"] == "Oidc-alice"
    # hvac now uses the token it got: the token store knows it, with the role's policies.
    assert client.token == answer["auth"]["client_token"]
    assert client.auth.token.lookup_self()["data"]["policies"] == ["default", "dev"]


class CliLogin:
    """`bao login -method=oidc skip_browser=true` as a subprocess; its stderr read live."""

    def __init__(self, bao: Bao, port: int, *args: str) -> None:
        self.process = subprocess.Popen(
            [
                bao.binary,
                "login",
                "-method=oidc",
                "-format=json",
                f"port={port}",
                "skip_browser=true",
                *args,
            ],
            env=bao.env(None),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    def auth_url(self) -> str:
        def found() -> str | None:
            for line in list(self.stderr):
                match = re.search(r"(https://\S+/oauth2/v2\.0/authorize\?\S+)", line)
                if match:
                    return match.group(1)
            return None

        wait_until_sync(lambda: found() is not None or self.process.poll() is not None, 30)
        url = found()
        assert url is not None, "".join(self.stderr)
        return url

    def finish(self) -> tuple[int, str, str]:
        # stdout here, stderr on the reader thread (communicate() would race it for stderr).
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        self.process.wait(timeout=60)
        self._reader.join(timeout=30)
        assert not self._reader.is_alive(), "the CLI's stderr did not end"
        return self.process.returncode, out, "".join(self.stderr)

    def kill(self) -> None:
        """Stop the CLI if it still runs, and close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._reader.join(timeout=10)
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


def _browser(entra: Entra, auth_url: str) -> httpx.Response | None:
    """What a browser does: the emulator's authorize redirects to the CLI's listener.

    None when the CLI closed the connection without its page: bao's callback handler
    writes the page and then hands the login to its main goroutine, which may exit
    before the handler returns and the page is flushed (seen under load). The login's
    outcome is then asserted on the CLI's exit and output alone."""
    with entra.http() as http:
        answer = http.get(auth_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith("http://localhost:")
    with httpx.Client(trust_env=False, timeout=60) as plain:
        try:
            return plain.get(location)
        except httpx.RemoteProtocolError:
            return None


def test_cli_oidc_browser_flow(entra: Entra, bao: Bao) -> None:
    entra.configure()
    port = free_port()
    redirect = f"http://localhost:{port}/oidc/callback"
    entra.write(
        "auth/oidc/role/eng",
        user_claim="oid",
        groups_claim="groups",
        allowed_redirect_uris=[redirect],
        bound_claims={"groups": [ENGINEERS]},
        token_policies=["eng"],
    )
    entra.tenant.admin("PUT", "signed-in", {"user": ALICE})
    login = CliLogin(bao, port, "role=eng")
    try:
        url = login.auth_url()
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"]
        assert query["redirect_uri"] == [redirect]
        assert query["client_id"] == [CLIENT]
        assert query["nonce"][0] and query["state"][0]
        page = _browser(entra, url)
        assert page is None or page.status_code == 200
        code, out, err = login.finish()
    finally:
        login.kill()
    assert code == 0, err
    auth = json.loads(out)["auth"]
    assert auth["policies"] == ["default", "eng"]
    assert auth["metadata"]["role"] == "eng"
    # The state was single use: the same callback again is refused.
    again = entra.api.request(
        "GET", f"auth/oidc/oidc/callback?state={query['state'][0]}&code=x", token=None
    )
    assert again.status_code == 400
    assert "Expired or missing OAuth state." in again.json()["errors"][0]


def test_cli_oidc_refuses_a_user_outside_the_group(entra: Entra, bao: Bao) -> None:
    entra.configure()
    port = free_port()
    entra.write(
        "auth/oidc/role/eng",
        user_claim="oid",
        allowed_redirect_uris=[f"http://localhost:{port}/oidc/callback"],
        bound_claims={"groups": [ENGINEERS]},
        token_policies=["eng"],
    )
    entra.tenant.admin("PUT", "signed-in", {"user": BOB})
    login = CliLogin(bao, port, "role=eng")
    try:
        page = _browser(entra, login.auth_url())
        # The CLI's error page shows our sentence (HTML-escaped).
        assert page is None or 'claim "groups" is missing' in html.unescape(page.text)
        code, _, err = login.finish()
    finally:
        login.kill()
    assert code != 0
    assert 'claim "groups" is missing' in " ".join(err.split())


def test_auth_url_with_an_unlisted_redirect_is_empty(entra: Entra, broker: Any) -> None:
    entra.configure()
    entra.write(
        "auth/oidc/role/eng",
        user_claim="oid",
        allowed_redirect_uris=["http://localhost:8250/oidc/callback"],
    )
    client = hvac.Client(url=broker.url, timeout=30)
    listed = client.auth.oidc.oidc_authorization_url_request(
        role="eng", redirect_uri="http://localhost:8250/oidc/callback"
    )
    assert listed["data"]["auth_url"].startswith(
        f"{entra.discovery_url[:-5]}/oauth2/v2.0/authorize?"
    )
    other = client.auth.oidc.oidc_authorization_url_request(
        role="eng", redirect_uri="http://evil.test/cb"
    )
    assert other["data"]["auth_url"] == ""
    assert "allowed_redirect_uris" in other["warnings"][0]


def test_hvac_oidc_callback_completes_a_sign_in(entra: Entra, broker: Any) -> None:
    entra.configure()
    redirect = "http://localhost:8250/oidc/callback"
    entra.write(
        "auth/oidc/role/eng",
        user_claim="oid",
        allowed_redirect_uris=[redirect],
        token_policies=["eng"],
    )
    client = hvac.Client(url=broker.url, timeout=30)
    url = client.auth.oidc.oidc_authorization_url_request(role="eng", redirect_uri=redirect)[
        "data"
    ]["auth_url"]
    with entra.http() as http:
        answer = http.get(url + "&login_hint=" + BOB, follow_redirects=False)
    assert answer.status_code == 302
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    auth = client.auth.oidc.oidc_callback(
        code=back["code"][0], state=back["state"][0], nonce="", path="oidc"
    )
    assert auth["auth"]["policies"] == ["default", "eng"]
