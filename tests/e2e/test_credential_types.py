"""Temporary Access Pass and client secret roles, end to end with hvac and the bao CLI.

Whether a credential works is asked of the emulated tenant: its token endpoint for a
client secret, its pass sign-in check for a Temporary Access Pass. The tenant's clock is
moved forward to show Entra itself ends a credential whose lease was lost.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import hvac
import pytest

from tests.e2e.conftest import CLIENT, SECRET, TENANT, Bao, Setup, Tenant
from tests.waiting import wait_until_sync

PERMISSIONS = [
    "User.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
]


@pytest.fixture(autouse=True)
def permissions(tenant: Tenant) -> None:
    # Before the broker's first token: permissions are read into tokens when issued.
    tenant.admin("PUT", "permissions", {"roles": PERMISSIONS})


@pytest.fixture
def ready(configured: Setup) -> Setup:
    return configured


def taps(tenant: Tenant, upn: str) -> list[dict[str, Any]]:
    return list(tenant.admin("GET", f"users/{upn}/temporaryAccessPasses"))


def tap_signs_in(tenant: Tenant, upn: str, text: str) -> bool:
    found = tenant.admin(
        "POST", f"users/{upn}/temporaryAccessPasses/signIn", {"temporaryAccessPass": text}
    )
    return bool(found["signed_in"])


def new_application(tenant: Tenant, name: str) -> dict[str, Any]:
    return dict(tenant.admin("POST", "applications", {"displayName": name}))


def secret_works(tenant: Tenant, client_id: str, secret: str) -> bool:
    return tenant.client_secret_answer(client_id, secret).status_code == 200


def key_ids(tenant: Tenant, app_id: str) -> list[str]:
    app = tenant.admin("GET", f"applications/{app_id}")
    return [p["keyId"] for p in app["passwordCredentials"]]


# -- Temporary Access Passes ------------------------------------------------------------


def test_tap_issue_use_renew_refused_revoke_with_hvac(
    ready: Setup, tenant: Tenant, client: hvac.Client
) -> None:
    ready.role("alice", credential_type="temporary_access_pass", ttl="15m", is_usable_once=True)
    read = client.secrets.kv.v1.read_secret("creds/alice", mount_point="entra")
    data = read["data"]
    assert set(data) == {
        "user_principal_name",
        "object_id",
        "temporary_access_pass",
        "start_date_time",
        "lifetime_in_minutes",
        "is_usable_once",
    }
    assert data["lifetime_in_minutes"] == 15 and data["is_usable_once"] is True
    assert read["renewable"] is False and read["lease_duration"] == 900
    listed = taps(tenant, "alice@example.test")
    assert [(t["lifetimeInMinutes"], t["isUsable"]) for t in listed] == [(15, True)]
    assert listed[0]["temporaryAccessPass"] is None  # Entra shows the pass only once

    with pytest.raises(hvac.exceptions.InvalidRequest, match="lease is not renewable"):
        client.sys.renew_lease(read["lease_id"])

    client.sys.revoke_lease(read["lease_id"])
    assert taps(tenant, "alice@example.test") == []
    assert not tap_signs_in(tenant, "alice@example.test", data["temporary_access_pass"])


def test_tap_one_time_pass_is_spent_and_role_reads_back(ready: Setup, tenant: Tenant) -> None:
    ready.role("bob", credential_type="temporary_access_pass", ttl="20m", is_usable_once=True)
    role = ready.api.request("GET", "entra/roles/bob").json()["data"]
    assert role["credential_type"] == "temporary_access_pass"
    assert role["is_usable_once"] is True
    text = ready.creds("bob")["data"]["temporary_access_pass"]
    assert tap_signs_in(tenant, "bob@example.test", text)
    assert not tap_signs_in(tenant, "bob@example.test", text)


def test_tap_lease_expiry_deletes_the_pass(ready: Setup, tenant: Tenant) -> None:
    ready.role("carol", credential_type="temporary_access_pass", ttl=2)
    body = ready.creds("carol")
    assert any("10 minutes" in w for w in body["warnings"])
    assert len(taps(tenant, "carol@example.test")) == 1
    wait_until_sync(lambda: taps(tenant, "carol@example.test") == [], timeout=15, interval=0.2)


def test_tap_whose_lease_was_lost_ends_at_its_entra_lifetime(ready: Setup, tenant: Tenant) -> None:
    ready.role("alice", credential_type="temporary_access_pass", ttl="10m")
    body = ready.creds("alice")
    text = body["data"]["temporary_access_pass"]
    assert tap_signs_in(tenant, "alice@example.test", text)
    # Nobody revokes: the broker could be gone. Entra's clock passes the pass's lifetime.
    tenant.admin("POST", "clock", {"advance_seconds": 10 * 60 + 1})
    (listed,) = taps(tenant, "alice@example.test")
    assert (listed["isUsable"], listed["methodUsabilityReason"]) == (False, "Expired")
    assert not tap_signs_in(tenant, "alice@example.test", text)
    ready.api.request("PUT", "sys/leases/revoke", json={"lease_id": body["lease_id"]})


def test_tap_role_refuses_a_global_administrator(ready: Setup, tenant: Tenant) -> None:
    tenant.admin("POST", "users", {"userPrincipalName": "boss@example.test"})
    tenant.admin(
        "POST", "users/boss@example.test/directoryRoles", {"displayName": "Global Administrator"}
    )
    tenant.admin("PUT", "permissions", {"roles": [*PERMISSIONS, "RoleManagement.Read.Directory"]})
    ready.config()  # a fresh token with the new permission
    answer = ready.api.request(
        "PUT",
        "entra/roles/boss",
        json={
            "credential_type": "temporary_access_pass",
            "user_principal_name": "boss@example.test",
        },
    )
    assert answer.status_code == 400
    assert "Global Administrator" in answer.json()["errors"][0]
    assert taps(tenant, "boss@example.test") == []


def test_tap_with_the_bao_cli(ready: Setup, tenant: Tenant, bao: Bao) -> None:
    wrote = bao(
        "write",
        "entra/roles/bob",
        "credential_type=temporary_access_pass",
        "user_principal_name=bob@example.test",
        "ttl=30m",
    )
    assert wrote.code == 0, wrote.stderr
    read = bao("read", "-format=json", "entra/creds/bob")
    assert read.code == 0, read.stderr
    body = json.loads(read.stdout)
    assert body["data"]["lifetime_in_minutes"] == 30 and body["renewable"] is False
    renew = bao("lease", "renew", body["lease_id"])
    assert renew.code != 0 and "lease is not renewable" in renew.flat_stderr
    revoke = bao("lease", "revoke", "-sync", body["lease_id"])
    assert revoke.code == 0, revoke.stderr
    assert taps(tenant, "bob@example.test") == []


# -- client secrets -------------------------------------------------------------------------


def test_client_secret_leases_coexist_and_revoke_removes_exactly_one_key(
    ready: Setup, tenant: Tenant, client: hvac.Client
) -> None:
    app = new_application(tenant, "billing-batch")
    ready.api.request(
        "PUT",
        "entra/roles/billing",
        json={
            "credential_type": "client_secret",
            "application_object_id": app["id"],
            "ttl": "1h",
            "max_ttl": "2h",
        },
    ).raise_for_status()
    first = client.secrets.kv.v1.read_secret("creds/billing", mount_point="entra")
    second = client.secrets.kv.v1.read_secret("creds/billing", mount_point="entra")
    one, two = first["data"], second["data"]
    assert set(one) == {"client_id", "client_secret", "key_id", "tenant_id", "end_date_time"}
    assert one["client_id"] == app["appId"] and one["tenant_id"] == TENANT
    assert one["key_id"] != two["key_id"]
    assert any("AADSTS7000215" in w for w in first["warnings"])
    assert secret_works(tenant, app["appId"], one["client_secret"])
    assert secret_works(tenant, app["appId"], two["client_secret"])
    # Entra ends the secret at the lease's max TTL, even without the broker.
    end = datetime.fromisoformat(one["end_date_time"].replace("Z", "+00:00"))
    assert abs((end - datetime.now(UTC)).total_seconds() - 7200) < 60

    renewed = client.sys.renew_lease(first["lease_id"])
    assert renewed["renewable"] is True
    client.sys.revoke_lease(first["lease_id"])
    assert key_ids(tenant, app["id"]) == [two["key_id"]]
    assert not secret_works(tenant, app["appId"], one["client_secret"])
    assert secret_works(tenant, app["appId"], two["client_secret"])
    client.sys.revoke_lease(second["lease_id"])
    assert key_ids(tenant, app["id"]) == []


def test_client_secret_lease_expiry_removes_the_key(ready: Setup, tenant: Tenant) -> None:
    app = new_application(tenant, "short-lived")
    ready.role(
        "short",
        credential_type="client_secret",
        application_object_id=app["id"],
        ttl=2,
        user_principal_name="",
    )
    data = ready.creds("short")["data"]
    assert key_ids(tenant, app["id"]) == [data["key_id"]]
    wait_until_sync(lambda: key_ids(tenant, app["id"]) == [], timeout=15, interval=0.2)
    assert not secret_works(tenant, app["appId"], data["client_secret"])


def test_client_secret_whose_lease_was_lost_ends_at_its_entra_end_date(
    ready: Setup, tenant: Tenant
) -> None:
    app = new_application(tenant, "lost-lease")
    ready.role(
        "lost",
        credential_type="client_secret",
        application_object_id=app["id"],
        max_ttl="1h",
        user_principal_name="",
    )
    body = ready.creds("lost")
    secret = body["data"]["client_secret"]
    assert secret_works(tenant, app["appId"], secret)
    tenant.admin("POST", "clock", {"advance_seconds": 3600 + 60})
    answer = tenant.client_secret_answer(app["appId"], secret)
    assert answer.status_code == 401 and "AADSTS7000222" in answer.json()["error_description"]
    # The engine's own secret has no end date: the broker still works and revokes.
    ready.api.request("PUT", "sys/leases/revoke", json={"lease_id": body["lease_id"]})
    assert key_ids(tenant, app["id"]) == []


def test_client_secret_role_refuses_bad_input(ready: Setup, tenant: Tenant) -> None:
    missing = ready.api.request("PUT", "entra/roles/x", json={"credential_type": "client_secret"})
    assert missing.status_code == 400
    assert "application_object_id is required" in missing.json()["errors"][0]
    unknown = ready.api.request(
        "PUT",
        "entra/roles/x",
        json={
            "credential_type": "client_secret",
            "application_object_id": "6c0f5c7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f",
        },
    )
    assert unknown.status_code == 400
    assert "was not found" in unknown.json()["errors"][0]
    assert ready.api.request("GET", "entra/roles/x").status_code == 404


def test_client_secret_with_the_bao_cli(ready: Setup, tenant: Tenant, bao: Bao) -> None:
    app = new_application(tenant, "cli-app")
    wrote = bao(
        "write",
        "entra/roles/cli",
        "credential_type=client_secret",
        f"application_object_id={app['id']}",
    )
    assert wrote.code == 0, wrote.stderr
    read = bao("read", "-format=json", "entra/creds/cli")
    assert read.code == 0, read.stderr
    body = json.loads(read.stdout)
    assert secret_works(tenant, body["data"]["client_id"], body["data"]["client_secret"])
    revoke = bao("lease", "revoke", body["lease_id"])
    assert revoke.code == 0, revoke.stderr
    # Without -sync the CLI's revoke is queued (202), as in Vault.
    wait_until_sync(lambda: key_ids(tenant, app["id"]) == [], timeout=10, interval=0.1)
    assert not secret_works(tenant, app["appId"], body["data"]["client_secret"])


def test_engine_application_still_signs_in(tenant: Tenant) -> None:
    # The emulator's own secret for the engine keeps working alongside added apps.
    assert secret_works(tenant, CLIENT, SECRET)
    assert not secret_works(tenant, CLIENT, SECRET + "x")


# -- picking users ----------------------------------------------------------------------------


def test_list_users_with_hvac_filter_and_the_cli(
    ready: Setup, tenant: Tenant, client: hvac.Client, bao: Bao
) -> None:
    before = {upn: u["password_changes"] for upn, u in tenant.users().items()}
    listed = client.adapter.request("LIST", "v1/entra/users")["data"]
    assert {"alice@example.test", "bob@example.test", "carol@example.test"} <= set(listed["keys"])
    alice = tenant.users()["alice@example.test"]
    assert listed["key_info"]["alice@example.test"] == {
        "object_id": alice["id"],
        "display_name": alice["displayName"],
        "account_enabled": True,
    }
    filtered = ready.api.request(
        "GET", "entra/users?list=true&filter=startswith(userPrincipalName,'bob')"
    )
    assert filtered.status_code == 200, filtered.text
    assert filtered.json()["data"]["keys"] == ["bob@example.test"]
    nobody = ready.api.request("LIST", "entra/users?filter=userPrincipalName eq 'zed@x.test'")
    assert nobody.status_code == 404 and nobody.json() == {"errors": []}
    bad = ready.api.request("LIST", "entra/users?filter=nonsense")
    assert bad.status_code == 400 and "refused filter" in bad.json()["errors"][0]
    cli = bao("list", "entra/users")
    assert cli.code == 0, cli.stderr
    assert "carol@example.test" in cli.stdout.split()
    # Read-only: listing changed no user.
    assert {upn: u["password_changes"] for upn, u in tenant.users().items()} == before
