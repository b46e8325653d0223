"""Privileged Entra users with the real clients: hvac, the `bao` CLI and raw HTTP.

The tenant has a Global Administrator, and the application may name directory roles
(RoleManagement.Read.Directory), as the operations guide asks.
"""

from __future__ import annotations

from collections.abc import Iterator

import hvac
import hvac.exceptions
import pytest

from emulator import EmulatorSettings, ThreadedEmulator
from tests.e2e.conftest import (
    BOB,
    CLIENT,
    SECRET,
    TENANT,
    USERS,
    Api,
    Bao,
    Setup,
    Tenant,
    table,
)
from tests.e2e.test_cli import api_error, ok, write_config

ADMIN = "admin@example.test"
REFUSED = (
    f'Entra user "{ADMIN}" holds the privileged directory role Global Administrator, so '
    'role "admin" was not written: the broker would hand that user\'s password to whoever '
    "may read the role's creds. Set allow_privileged_user=true on the role if this is "
    "really intended"
)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEmulator]:
    settings = EmulatorSettings(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SECRET,
        users=[*USERS, ADMIN],
        roles=["User.ReadWrite.All", "RoleManagement.Read.Directory"],
        directory_roles={ADMIN: ["Global Administrator"]},
    )
    with ThreadedEmulator(settings, tmp_path_factory.mktemp("emulator-certs")) as emu:
        yield emu


def test_hvac_write_is_refused_then_allowed_and_creds_work(
    client: hvac.Client, configured: Setup, api: Api, tenant: Tenant
) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest) as caught:
        client.write("entra/roles/admin", user_principal_name=ADMIN)
    assert caught.value.errors == [REFUSED]
    raw = api.request("PUT", "entra/roles/admin", json={"user_principal_name": ADMIN})
    assert raw.status_code == 400 and raw.json() == {"errors": [REFUSED]}
    assert client.read("entra/roles/admin") is None  # nothing was written

    client.write("entra/roles/admin", user_principal_name=ADMIN, allow_privileged_user=True)
    role = client.read("entra/roles/admin")
    assert role is not None and role["data"]["allow_privileged_user"] is True
    creds = client.read("entra/creds/admin")
    assert creds is not None and creds["data"]["user_principal_name"] == ADMIN
    assert tenant.signs_in(ADMIN, creds["data"]["password"])
    client.sys.revoke_lease(creds["lease_id"])
    tenant.wait_signs_in_fails(ADMIN, creds["data"]["password"])


def test_bao_write_is_refused_then_allowed_and_creds_work(bao: Bao, tenant: Tenant) -> None:
    ok(write_config(bao, tenant))
    api_error(bao("write", "entra/roles/admin", f"user_principal_name={ADMIN}"), 400, REFUSED)

    ok(
        bao(
            "write",
            "entra/roles/admin",
            f"user_principal_name={ADMIN}",
            "allow_privileged_user=true",
        )
    )
    assert table(ok(bao("read", "entra/roles/admin")).stdout)["allow_privileged_user"] == "true"
    rows = table(ok(bao("read", "entra/creds/admin")).stdout)
    assert rows["user_principal_name"] == ADMIN
    assert tenant.signs_in(ADMIN, rows["password"])
    ok(bao("lease", "revoke", rows["lease_id"]))


def test_a_user_made_global_admin_after_the_role_gets_no_password(
    configured: Setup, api: Api, tenant: Tenant
) -> None:
    configured.role("bob", user_principal_name=BOB)
    changes = tenant.password_changes(BOB)
    tenant.admin("POST", f"users/{BOB}/directoryRoles", {"displayName": "Global Administrator"})
    try:
        response = api.request("GET", "entra/creds/bob")
    finally:
        tenant.admin("DELETE", f"users/{BOB}/directoryRoles/Global Administrator")
    assert response.status_code == 400, response.text
    (message,) = response.json()["errors"]
    assert message.startswith(
        f'Entra user "{BOB}" now holds the privileged directory role Global Administrator, '
        'so no password was issued for role "bob"'
    )
    assert tenant.password_changes(BOB) == changes
    assert configured.lease_keys("entra/creds/bob/") == []  # the pending lease was dropped
    configured.creds("bob")  # no longer privileged: issued again


def test_a_denied_membership_read_fails_closed(bao: Bao, tenant: Tenant) -> None:
    ok(write_config(bao, tenant))
    tenant.fault(match="transitiveMemberOf", status=403, code="Authorization_RequestDenied")
    run = bao("write", "entra/roles/bob", f"user_principal_name={BOB}")
    assert run.code == 2 and "Code: 400. Errors:" in run.stderr, run
    flat = run.flat_stderr
    assert f'Microsoft Graph denied reading the directory roles of user "{BOB}"' in flat
    assert "User.Read.All" in flat and "RoleManagement.Read.Directory" in flat
    assert 'role "bob" was not written' in flat and "allow_privileged_user=true" in flat
    ok(bao("write", "entra/roles/bob", f"user_principal_name={BOB}", "allow_privileged_user=true"))
