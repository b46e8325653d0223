"""The emulator's directory roles: Graph's transitiveMemberOf, the admin API, the CLI flag."""

from __future__ import annotations

import httpx
import pytest

from emulator import EmulatorServer
from emulator.cli import parse_directory_roles
from emulator.directory import DirectoryRoleError, find_template
from tests.integration.test_emulator import (
    ALICE,
    BOB,
    app_token,
    graph_error,
    set_roles,
    settings,
    tls,
)

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
DIRECTORY_READERS = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
ROLE_KEYS = {"@odata.type", "id", "deletedDateTime", "description", "displayName", "roleTemplateId"}


@pytest.fixture
async def emu(tmp_path):
    seeded = settings(directory_roles={ALICE: ["Global Administrator", DIRECTORY_READERS]})
    async with EmulatorServer(seeded, cert_dir=tmp_path) as server:
        yield server


@pytest.fixture
async def client(emu):
    async with httpx.AsyncClient(
        base_url=emu.base_url, verify=tls(emu.ca_path), trust_env=False, timeout=10.0
    ) as http:
        yield http


@pytest.fixture
async def graph(client):
    async def call(method: str, path: str, **kwargs):
        token = await app_token(client)
        return await client.request(
            method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
        )

    return call


def _user_id(emu: EmulatorServer, upn: str) -> str:
    user = emu.state.find_user(upn)
    assert user is not None
    return user.id


async def test_memberships_are_named_only_with_a_directory_role_permission(emu, client, graph):
    alice = _user_id(emu, ALICE)
    # User.ReadWrite.All reads memberships, but not what the directory roles are.
    response = await graph("GET", f"/v1.0/users/{alice}/transitiveMemberOf")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["@odata.context"].endswith("/v1.0/$metadata#directoryObjects")
    assert "@odata.nextLink" not in body
    assert [set(r) for r in body["value"]] == [ROLE_KEYS, ROLE_KEYS]
    assert all(r["roleTemplateId"] is None and r["displayName"] is None for r in body["value"])
    assert all(r["@odata.type"] == "#microsoft.graph.directoryRole" for r in body["value"])

    await set_roles(client, ["User.ReadWrite.All", "RoleManagement.Read.Directory"])
    named = (await graph("GET", f"/v1.0/users('{ALICE}')/transitiveMemberOf")).json()
    assert [(r["roleTemplateId"], r["displayName"]) for r in named["value"]] == [
        (GLOBAL_ADMIN, "Global Administrator"),
        (DIRECTORY_READERS, "Directory Readers"),
    ]
    # A user without roles is a member of nothing; an unknown one is Graph's 404.
    bob = (await graph("GET", f"/v1.0/users/{BOB}/transitiveMemberOf")).json()
    assert bob["value"] == []
    missing = await graph("GET", "/v1.0/users/nobody@example.test/transitiveMemberOf")
    graph_error(missing, 404, "Request_ResourceNotFound")


async def test_memberships_page_with_top_and_next_links(emu, client, graph):
    for name in ("Reports Reader", "Message Center Reader", "Groups Administrator"):
        response = await client.post(
            f"/_emulator/users/{ALICE}/directoryRoles", json={"displayName": name}
        )
        assert response.status_code == 201, response.text
    alice = _user_id(emu, ALICE)
    url: str | None = f"/v1.0/users/{alice}/transitiveMemberOf?$top=2"
    pages = []
    while url is not None:
        body = (await graph("GET", url)).json()
        pages.append(len(body["value"]))
        url = body.get("@odata.nextLink")
        assert url is None or url.startswith(
            f"{emu.base_url}/v1.0/users/{alice}/transitiveMemberOf?"
        )
    assert pages == [2, 2, 1]
    bad = await graph("GET", f"/v1.0/users/{alice}/transitiveMemberOf?$top=0")
    graph_error(bad, 400, "Request_UnsupportedQuery")


async def test_membership_read_needs_a_user_read_permission(emu, client, graph):
    await set_roles(client, ["User-PasswordProfile.ReadWrite.All"])
    response = await graph("GET", f"/v1.0/users/{ALICE}/transitiveMemberOf")
    graph_error(response, 403, "Authorization_RequestDenied")
    await set_roles(client, ["GroupMember.Read.All"])
    assert (await graph("GET", f"/v1.0/users/{ALICE}/transitiveMemberOf")).status_code == 200


async def test_admin_api_grants_lists_and_removes_directory_roles(emu, client):
    listed = await client.get(f"/_emulator/users/{ALICE}/directoryRoles")
    assert [r["displayName"] for r in listed.json()] == [
        "Global Administrator",
        "Directory Readers",
    ]

    added = await client.post(
        f"/_emulator/users/{BOB}/directoryRoles", json={"roleTemplateId": GLOBAL_ADMIN.upper()}
    )
    assert added.status_code == 201
    role = added.json()
    assert set(role) == {"id", "roleTemplateId", "displayName"}
    # One role object per template in the tenant, shared by its members.
    assert role["roleTemplateId"] == GLOBAL_ADMIN and role["id"] == listed.json()[0]["id"]
    again = await client.post(
        f"/_emulator/users/{BOB}/directoryRoles", json={"displayName": "global administrator"}
    )
    assert again.status_code == 200 and again.json() == role

    custom = await client.post(
        f"/_emulator/users/{BOB}/directoryRoles",
        json={"roleTemplateId": "11111111-2222-4333-8444-555555555555", "displayName": "Custom"},
    )
    assert custom.status_code == 201 and custom.json()["displayName"] == "Custom"

    everyone = (await client.get("/_emulator/directoryRoles")).json()
    by_name = {r["displayName"]: r["members"] for r in everyone}
    assert by_name["Global Administrator"] == [ALICE, BOB] and by_name["Custom"] == [BOB]

    # Removal by template id, role object id or name; a second removal is a 404.
    assert (
        await client.delete(f"/_emulator/users/{BOB}/directoryRoles/{GLOBAL_ADMIN}")
    ).status_code == 204
    assert (await client.delete(f"/_emulator/users/{BOB}/directoryRoles/Custom")).status_code == 204
    gone = await client.delete(f"/_emulator/users/{BOB}/directoryRoles/Custom")
    assert gone.status_code == 404 and "has no directory role" in gone.json()["error"]
    assert (await client.get(f"/_emulator/users/{BOB}/directoryRoles")).json() == []


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({}, 400, "give roleTemplateId or displayName"),
        ({"displayName": "Chief Wizard"}, 400, "no directory role 'Chief Wizard'"),
        ({"roleTemplateId": "11111111-2222-4333-8444-555555555555"}, 400, "give displayName too"),
        ({"roleTemplateId": 7}, 400, "roleTemplateId must be a non-empty string"),
    ],
)
async def test_admin_api_refuses_bad_directory_roles(client, body, status, words):
    response = await client.post(f"/_emulator/users/{BOB}/directoryRoles", json=body)
    assert response.status_code == status and words in response.json()["error"]


async def test_admin_api_directory_roles_of_an_unknown_user_is_404(client):
    for response in (
        await client.get("/_emulator/users/ghost@example.test/directoryRoles"),
        await client.post(
            "/_emulator/users/ghost@example.test/directoryRoles",
            json={"displayName": "Global Administrator"},
        ),
        await client.delete(
            "/_emulator/users/ghost@example.test/directoryRoles/Global Administrator"
        ),
    ):
        assert response.status_code == 404 and "ghost@example.test" in response.json()["error"]


async def test_deleting_a_user_drops_its_memberships(emu, client):
    assert (await client.delete(f"/_emulator/users/{ALICE}")).status_code == 204
    everyone = (await client.get("/_emulator/directoryRoles")).json()
    assert all(r["members"] == [] for r in everyone)


def test_cli_directory_role_flag_is_parsed_against_the_users():
    users = [ALICE, BOB]
    parsed = parse_directory_roles(
        [f"{ALICE}=Global Administrator", f"{ALICE.upper()}={DIRECTORY_READERS}"], users
    )
    assert parsed == {ALICE: ["Global Administrator", DIRECTORY_READERS]}
    for value, words in (
        ("alice@example.test", "must be UPN=ROLE"),
        ("dave@example.test=Global Administrator", "not one of the --user users"),
        (f"{BOB}=Chief Wizard", "no directory role 'Chief Wizard'"),
    ):
        with pytest.raises(ValueError, match=words):
            parse_directory_roles([value], users)


def test_find_template_by_id_or_name():
    assert find_template(" GLOBAL administrator ").id == GLOBAL_ADMIN
    assert find_template(GLOBAL_ADMIN.upper()).display_name == "Global Administrator"
    with pytest.raises(DirectoryRoleError):
        find_template("not-a-role")
