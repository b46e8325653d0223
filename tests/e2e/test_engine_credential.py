"""The engine's own credential: signing in with a client certificate, and rotate-root.

Each test gets its own emulated tenant, because rotate-root replaces the engine
application's secret (the module-wide tenant of other modules keeps SECRET working).
Whether a credential works is asked of the tenant's token endpoint.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes

from plugin.emulator import EmulatorSettings, ThreadedEmulator
from tests.broker_thread import BrokerThread
from tests.client_certificates import ClientCertificate, make_client_certificate
from tests.e2e.conftest import ALICE, CLIENT, SECRET, TENANT, USERS, Setup, Tenant

PERMISSIONS = ["User.ReadWrite.All", "Application.ReadWrite.OwnedBy"]


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[ThreadedEmulator]:
    """A fresh tenant per test (overrides the module-wide one of conftest)."""
    settings = EmulatorSettings(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SECRET,
        users=list(USERS),
        roles=list(PERMISSIONS),
    )
    emu = ThreadedEmulator(settings, tmp_path / "emulator-certs")
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def broker(emulator: ThreadedEmulator, tmp_path: Path) -> Iterator[BrokerThread]:
    """The broker, stopped before its tenant (its Graph connections close first)."""
    thread = BrokerThread(tmp_path / "broker").start()
    yield thread
    thread.stop()


def token_answer(tenant: Tenant, secret: str) -> httpx.Response:
    context = ssl.create_default_context(cafile=str(tenant.ca_path))
    with httpx.Client(verify=context, trust_env=False, timeout=10) as http:
        return http.post(
            f"{tenant.base_url}/{TENANT}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT,
                "client_secret": secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )


def secret_works(tenant: Tenant, secret: str) -> bool:
    return token_answer(tenant, secret).status_code == 200


def engine_key_ids(tenant: Tenant) -> list[str]:
    return [
        p["keyId"] for p in tenant.admin("GET", f"applications/{CLIENT}")["passwordCredentials"]
    ]


def creds_work(setup: Setup, tenant: Tenant) -> bool:
    """A password role still issues a password that signs alice in."""
    setup.role("alice", ttl="1h")
    body = setup.creds("alice")
    return tenant.signs_in(ALICE, body["data"]["password"])


# -- certificate authentication ------------------------------------------------------------


def certificate_config(setup: Setup, pem: str, **overrides: Any) -> httpx.Response:
    """Write entra/config signing in with `pem` (no client_secret sent)."""
    data = setup.config_data(client_certificate=pem, **overrides)
    del data["client_secret"]
    return setup.api.request("PUT", "entra/config", json=data)


def register(tenant: Tenant, cert: ClientCertificate) -> None:
    tenant.admin(
        "POST", f"applications/{CLIENT}/certificates", {"certificate": cert.certificate_pem}
    )


def test_config_with_a_client_certificate_issues_creds(
    setup: Setup, tenant: Tenant, broker: BrokerThread
) -> None:
    cert = make_client_certificate()
    register(tenant, cert)
    written = certificate_config(setup, cert.combined_pem)
    assert written.status_code in (200, 204), written.text

    read = setup.api.request("GET", "entra/config")
    assert read.status_code == 200, read.text
    data = read.json()["data"]
    assert "client_certificate" not in data and "client_secret" not in data
    sha1 = cert.certificate.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Azure's
    assert data["client_certificate_thumbprint"] == sha1
    expiry = cert.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["client_certificate_expiration"] == expiry
    key_line = cert.private_key_pem.splitlines()[1]
    assert key_line not in read.text
    assert creds_work(setup, tenant)
    # The key is sealed in storage, like a client secret.
    assert key_line.encode() not in broker.storage_file.read_bytes()


def test_an_unregistered_certificate_is_refused_at_config_write(
    configured: Setup, tenant: Tenant
) -> None:
    stranger = make_client_certificate("never uploaded")
    refused = certificate_config(configured, stranger.combined_pem)
    assert refused.status_code == 400, refused.text
    (sentence,) = refused.json()["errors"]
    assert "AADSTS700027" in sentence and "certificate" in sentence and CLIENT in sentence
    # Nothing changed: the stored secret still signs the engine in.
    data = configured.api.request("GET", "entra/config").json()["data"]
    assert "client_certificate_thumbprint" not in data
    assert creds_work(configured, tenant)


def test_config_names_every_credential_problem(setup: Setup, tenant: Tenant) -> None:
    cert = make_client_certificate()
    other = make_client_certificate("other")

    def refused(data: dict[str, Any]) -> list[str]:
        answer = setup.api.request("PUT", "entra/config", json=data)
        assert answer.status_code == 400, answer.text
        return list(answer.json()["errors"])

    both = refused(setup.config_data(client_certificate=cert.combined_pem))
    assert both == [
        "client_secret and client_certificate cannot both be set: the engine signs in "
        "with one of them"
    ]
    neither = setup.config_data()
    del neither["client_secret"]
    assert refused(neither) == ["client_secret or client_certificate is required"]
    (garbage,) = refused(setup.config_data(client_secret=None, client_certificate="not pem"))
    assert garbage.startswith("client_certificate must be PEM text")
    (only_cert,) = refused(
        setup.config_data(client_secret=None, client_certificate=cert.certificate_pem)
    )
    assert only_cert.startswith("client_certificate must be PEM text")
    mismatch = cert.certificate_pem + other.private_key_pem
    (wrong_key,) = refused(setup.config_data(client_secret=None, client_certificate=mismatch))
    assert "does not belong" in wrong_key
    assert setup.api.request("GET", "entra/config").status_code == 404
