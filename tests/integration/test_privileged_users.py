"""Privileged Entra users are refused unless a role allows them: the engine against the emulator."""

from __future__ import annotations

import pytest

from emulator import EmulatorServer, EmulatorSettings
from mount.sdk import InvalidRequestError, NotFoundError, Operation, UpstreamError
from plugin.privileged import PRIVILEGED_ROLES
from tests.integration.test_plugin_engine import (
    ALICE,
    BOB,
    CLIENT,
    SECRET,
    TENANT,
    Engine,
    start_engine,
)

ADMIN = "admin@example.test"
NAMED = ["User.ReadWrite.All", "RoleManagement.Read.Directory"]  # reads memberships and names
MEMBERSHIPS = "GET /v1.0/users/{id}/transitiveMemberOf"


@pytest.fixture
async def emu(tmp_path):
    settings = EmulatorSettings(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SECRET,
        users=[ALICE, BOB, ADMIN],
        roles=list(NAMED),
        directory_roles={ADMIN: ["Global Administrator"]},
    )
    async with EmulatorServer(settings, cert_dir=tmp_path) as server:
        yield server


@pytest.fixture
async def engine(emu):
    started = await start_engine(emu)
    assert await started.configure() is None
    yield started
    await started.backend.close()


async def grant(engine: Engine, upn: str, role: str) -> None:
    await engine.admin("POST", f"/_emulator/users/{upn}/directoryRoles", {"displayName": role})


async def refused(engine: Engine, name: str, **fields) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        await engine.role(name, **fields)
    return caught.value.message


async def test_a_global_administrator_is_refused_with_a_sentence(engine):
    message = await refused(engine, "admin", user_principal_name=ADMIN)
    assert message == (
        f'Entra user "{ADMIN}" holds the privileged directory role Global Administrator, so '
        'role "admin" was not written: the broker would hand that user\'s password to whoever '
        "may read the role's creds. Set allow_privileged_user=true on the role if this is "
        "really intended"
    )
    with pytest.raises(NotFoundError):
        await engine.call(Operation.READ, "roles/admin")


async def test_allow_privileged_user_accepts_the_user_and_creds_work(engine):
    before = await engine.admin("GET", "/_emulator/calls")
    assert await engine.role("admin", user_principal_name=ADMIN, allow_privileged_user=True) is None
    role = (await engine.call(Operation.READ, "roles/admin")).data
    assert role["allow_privileged_user"] is True and role["user_principal_name"] == ADMIN
    _, data = await engine.creds("admin")
    assert await engine.signs_in(ADMIN, data["password"])
    after = await engine.admin("GET", "/_emulator/calls")
    assert after.get(MEMBERSHIPS, 0) == before.get(MEMBERSHIPS, 0)  # allowed: never asked

    # Turning the flag off again is a write like any other: the user is checked again.
    message = await refused(engine, "admin", allow_privileged_user=False)
    assert "Global Administrator" in message
    assert (await engine.call(Operation.READ, "roles/admin")).data == role


async def test_every_privileged_role_is_named_and_other_roles_pass(engine):
    await grant(engine, ALICE, "Directory Readers")
    assert await engine.role("alice", user_principal_name=ALICE) is None
    alice = (await engine.call(Operation.READ, "roles/alice")).data
    assert alice["allow_privileged_user"] is False

    await grant(engine, ALICE, "User Administrator")
    await grant(engine, ALICE, "Helpdesk Administrator")
    message = await refused(engine, "alice", ttl="10m")
    assert (
        "holds the privileged directory roles User Administrator and Helpdesk Administrator"
        in message
    )
    assert (await engine.call(Operation.READ, "roles/alice")).data == alice  # unchanged


async def test_memberships_are_read_across_every_page(engine):
    config = await engine.backend.require_config(engine.storage)
    graph = await engine.backend.graph(config)
    graph.page_size = 2
    for role in (
        "Directory Readers",
        "Reports Reader",
        "Message Center Reader",
        "Groups Administrator",
    ):
        await grant(engine, BOB, role)
    assert await engine.role("bob", user_principal_name=BOB) is None
    await grant(engine, BOB, "Privileged Role Administrator")  # fifth: alone on page three
    await engine.admin("DELETE", "/_emulator/calls")
    message = await refused(engine, "bob", user_principal_name=BOB)
    assert "Privileged Role Administrator" in message
    calls = await engine.admin("GET", "/_emulator/calls")
    assert calls[MEMBERSHIPS] == 3


async def test_roles_graph_will_not_name_are_refused(engine):
    await engine.admin("PUT", "/_emulator/permissions", {"roles": ["User.ReadWrite.All"]})
    assert await engine.configure() is None  # a fresh token, without the role permission
    await grant(engine, ALICE, "Directory Readers")
    message = await refused(engine, "alice", user_principal_name=ALICE)
    assert message.startswith(
        f'Entra user "{ALICE}" is a member of a directory role that Microsoft Graph did not name'
    )
    assert "RoleManagement.Read.Directory application permission" in message
    assert "allow_privileged_user=true" in message
    # A user with no directory role at all needs no such permission.
    assert await engine.role("bob", user_principal_name=BOB) is None


async def test_a_denied_membership_read_fails_closed(engine):
    await engine.fault(
        match="transitiveMemberOf", status=403, code="Authorization_RequestDenied", count=1
    )
    message = await refused(engine, "bob", user_principal_name=BOB)
    assert message.startswith(
        f'Microsoft Graph denied reading the directory roles of user "{BOB}" '
        "(Authorization_RequestDenied): the application needs the User.Read.All"
    )
    assert 'role "bob" was not written' in message and "allow_privileged_user=true" in message
    with pytest.raises(NotFoundError):
        await engine.call(Operation.READ, "roles/bob")
    # Other Graph failures are Graph's errors, and the role is not written either.
    engine.backend.graph_deadline = 1.0
    await engine.fault(match="transitiveMemberOf", status=500)
    with pytest.raises(UpstreamError):
        await engine.role("bob", user_principal_name=BOB)
    with pytest.raises(NotFoundError):
        await engine.call(Operation.READ, "roles/bob")


async def test_a_user_made_privileged_later_gets_no_password(engine):
    assert await engine.role("bob", user_principal_name=BOB) is None
    await engine.creds("bob")
    changes = await engine.password_changes(BOB)
    await grant(engine, BOB, "Privileged Authentication Administrator")
    response = await engine.call(Operation.READ, "creds/bob")
    with pytest.raises(InvalidRequestError) as caught:
        await response.issue()
    assert caught.value.message.startswith(
        f'Entra user "{BOB}" now holds the privileged directory role Privileged '
        'Authentication Administrator, so no password was issued for role "bob"'
    )
    assert await engine.password_changes(BOB) == changes


async def test_issue_fails_closed_when_the_app_cannot_read_memberships(engine):
    assert await engine.role("bob", user_principal_name=BOB) is None
    await engine.admin(
        "PUT", "/_emulator/permissions", {"roles": ["User-PasswordProfile.ReadWrite.All"]}
    )
    await engine.configure()  # warns that users cannot be looked up; takes a fresh token
    changes = await engine.password_changes(BOB)
    response = await engine.call(Operation.READ, "creds/bob")
    with pytest.raises(InvalidRequestError) as caught:
        await response.issue()
    assert "User.Read.All" in caught.value.message
    assert 'no password was issued for role "bob"' in caught.value.message
    assert await engine.password_changes(BOB) == changes


def test_the_privileged_list_holds_the_roles_the_issue_names():
    names = set(PRIVILEGED_ROLES.values())
    assert {
        "Global Administrator",
        "Privileged Role Administrator",
        "User Administrator",
        "Privileged Authentication Administrator",
        "Authentication Administrator",
        "Helpdesk Administrator",
        "Password Administrator",
        "Application Administrator",
        "Cloud Application Administrator",
        "Security Administrator",
    } <= names
    assert "Directory Readers" not in names
    assert all(key == key.lower() and len(key) == 36 for key in PRIVILEGED_ROLES)
