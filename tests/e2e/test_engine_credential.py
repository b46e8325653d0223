"""The engine's own credential: signing in with a client certificate, and rotate-root.

Each test gets its own emulated tenant, because rotate-root replaces the engine
application's secret (the module-wide tenant of other modules keeps SECRET working).
Whether a credential works is asked of the tenant's token endpoint.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest
from cryptography.hazmat.primitives import hashes

from plugin.emulator import EmulatorSettings, ThreadedEmulator
from tests.broker_thread import ROOT_TOKEN, BrokerThread
from tests.client_certificates import ClientCertificate, make_client_certificate
from tests.e2e.conftest import ALICE, CLIENT, SECRET, TENANT, USERS, Bao, Setup, Tenant, table

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


def secret_works(tenant: Tenant, secret: str) -> bool:
    return tenant.client_secret_answer(CLIENT, secret).status_code == 200


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
    sha1 = cert.certificate.fingerprint(hashes.SHA1()).hex().upper()
    assert data["client_certificate_thumbprint"] == sha1
    expiry = cert.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["client_certificate_expiration"] == expiry
    key_line = cert.private_key_pem.splitlines()[1]
    assert key_line not in read.text
    assert creds_work(setup, tenant)
    # The key is sealed in storage, like a client secret.
    assert key_line.encode() not in broker.storage_bytes()


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


# -- rotate-root ------------------------------------------------------------------------------


def engine_keys(tenant: Tenant) -> dict[str, dict[str, Any]]:
    """The engine application's client secrets by keyId (metadata and sign-in counts)."""
    app = tenant.admin("GET", f"applications/{CLIENT}")
    return {p["keyId"]: p for p in app["passwordCredentials"]}


def engine_backend(broker: BrokerThread) -> Any:
    assert broker.core is not None
    entry = broker.core.mounts.get("entra/")
    assert entry is not None
    return entry.backend


def signs_in_with(broker: BrokerThread, setup: Setup, tenant: Tenant) -> str:
    """Which of the engine's keys a freshly started broker signs in with (keyId)."""
    before = {k: p["signIns"] for k, p in engine_keys(tenant).items()}
    broker.restart()  # a new msal app: no cached token, the stored secret is used
    assert creds_work(setup, tenant)
    used = [k for k, p in engine_keys(tenant).items() if p["signIns"] > before.get(k, 0)]
    assert len(used) == 1, used
    return used[0]


def test_rotate_root_with_hvac_replaces_the_secret_twice(
    configured: Setup, tenant: Tenant, broker: BrokerThread
) -> None:
    (original,) = engine_keys(tenant)
    client = hvac.Client(url=broker.url, token=ROOT_TOKEN, timeout=30)

    first = client.write_data("entra/rotate-root")
    new_key = first["data"]["key_id"]
    # The hand-written secret was found by its hint and removed: no warning.
    assert first["warnings"] is None, first["warnings"]
    assert list(engine_keys(tenant)) == [new_key] and new_key != original
    assert not secret_works(tenant, SECRET)
    end = datetime.fromisoformat(first["data"]["end_date_time"].replace("Z", "+00:00"))
    assert abs((end - datetime.now(UTC)) - timedelta(days=182)) < timedelta(minutes=5)
    assert signs_in_with(broker, configured, tenant) == new_key

    # The second rotation knows the keyId it recorded.
    second = client.write_data("entra/rotate-root")
    assert second["warnings"] is None
    assert list(engine_keys(tenant)) == [second["data"]["key_id"]]
    assert signs_in_with(broker, configured, tenant) == second["data"]["key_id"]


def test_rotate_root_with_the_cli_waits_for_propagation(
    configured: Setup, tenant: Tenant, broker: BrokerThread, bao: Bao
) -> None:
    written = configured.api.request("PUT", "entra/config", json={"root_password_ttl": "720h"})
    assert written.status_code in (200, 204), written.text
    tenant.admin("PUT", "propagation", {"seconds": 2})
    started = time.monotonic()
    run = bao("write", "-f", "entra/rotate-root")
    assert run.code == 0, run.flat_stderr
    assert time.monotonic() - started >= 2  # refused until propagated, then accepted
    fields = table(run.stdout)
    assert list(engine_keys(tenant)) == [fields["key_id"]]
    end = datetime.fromisoformat(fields["end_date_time"].replace("Z", "+00:00"))
    assert abs((end - datetime.now(UTC)) - timedelta(days=30)) < timedelta(minutes=5)
    tenant.admin("PUT", "propagation", {"seconds": 0})
    assert not secret_works(tenant, SECRET)
    assert signs_in_with(broker, configured, tenant) == fields["key_id"]


def test_rotate_root_that_cannot_remove_the_old_secret_warns(
    configured: Setup, tenant: Tenant, broker: BrokerThread
) -> None:
    (original,) = engine_keys(tenant)
    tenant.fault(match="removePassword", status=403, code="Authorization_RequestDenied")
    answer = configured.api.request("PUT", "entra/rotate-root")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    (warning,) = body["warnings"]
    assert f"old one (keyId {original}) could not be removed" in warning
    assert set(engine_keys(tenant)) == {original, body["data"]["key_id"]}
    tenant.clear_faults()
    # The old secret still works at Entra, but the broker signs in with the new one.
    assert secret_works(tenant, SECRET)
    assert signs_in_with(broker, configured, tenant) == body["data"]["key_id"]


def test_rotate_root_refused_by_graph_keeps_the_old_secret(
    configured: Setup, tenant: Tenant, broker: BrokerThread
) -> None:
    (original,) = engine_keys(tenant)
    tenant.fault(match="addPassword", status=403, code="Authorization_RequestDenied")
    refused = configured.api.request("PUT", "entra/rotate-root")
    assert refused.status_code == 502, refused.text
    (sentence,) = refused.json()["errors"]
    assert "adding a client secret" in sentence and "Application.ReadWrite.OwnedBy" in sentence
    tenant.clear_faults()
    assert list(engine_keys(tenant)) == [original]
    assert secret_works(tenant, SECRET)
    assert signs_in_with(broker, configured, tenant) == original


def test_rotate_root_whose_new_secret_never_works_removes_it(
    configured: Setup, tenant: Tenant, broker: BrokerThread
) -> None:
    (original,) = engine_keys(tenant)
    engine_backend(broker).rotate_accept_deadline = 1.0
    tenant.admin("PUT", "propagation", {"seconds": 60})
    refused = configured.api.request("PUT", "entra/rotate-root")
    assert refused.status_code == 502, refused.text
    (sentence,) = refused.json()["errors"]
    assert "did not accept the new client secret" in sentence and "AADSTS7000215" in sentence
    assert "keeps using its current client secret; the new one was removed" in sentence
    assert list(engine_keys(tenant)) == [original]
    assert secret_works(tenant, SECRET)
    assert signs_in_with(broker, configured, tenant) == original


def test_rotate_root_refuses_a_certificate_configured_engine(setup: Setup, tenant: Tenant) -> None:
    cert = make_client_certificate()
    register(tenant, cert)
    assert certificate_config(setup, cert.combined_pem).status_code in (200, 204)
    refused = setup.api.request("PUT", "entra/rotate-root")
    assert refused.status_code == 400, refused.text
    assert "signs in with client_certificate" in refused.json()["errors"][0]
