"""Token roles through the real `bao` CLI and hvac: auth/token/roles/<name> and
auth/token/create/<role>, with Vault's rules for the policies a role allows."""

from __future__ import annotations

import json

import hvac
import hvac.exceptions
import pytest

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import Api, Bao, assert_error_body, make_client, table

CREATOR = 'path "auth/token/create" { capabilities = ["update"] }\n' + (
    'path "auth/token/create/*" { capabilities = ["update"] }'
)


def limited_client(broker: BrokerThread, client: hvac.Client) -> hvac.Client:
    """A token that may create tokens against roles, and holds no other policy."""
    client.sys.create_or_update_policy("creator", CREATOR)
    for name in ("ops", "deploy"):
        client.sys.create_or_update_policy(name, 'path "sys/mounts" { capabilities = ["read"] }')
    token = client.auth.token.create(policies=["creator"])["auth"]["client_token"]
    return make_client(broker, token)


def test_role_lets_a_token_create_children_beyond_its_own_policies(
    broker: BrokerThread, client: hvac.Client
) -> None:
    creator = limited_client(broker, client)
    client.auth.token.create_or_update_role(
        "ops", allowed_policies=["ops"], orphan=True, path_suffix="v2", token_period="1h"
    )
    # Without the role the same request is refused: ops is not the parent's.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="child policies must be subset"):
        creator.auth.token.create(policies=["ops"])

    made = creator.auth.token.create(role_name="ops", policies=["ops"])["auth"]
    assert made["policies"] == ["default", "ops"]
    assert made["orphan"] is True
    assert made["lease_duration"] == 3600
    looked = client.auth.token.lookup(made["client_token"])["data"]
    assert looked["role"] == "ops"
    assert looked["path"] == "auth/token/create/ops/v2"
    assert looked["period"] == 3600

    # No policies asked: the role's allowed ones.
    plain = creator.auth.token.create(role_name="ops")["auth"]
    assert plain["policies"] == ["default", "ops"]
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        creator.auth.token.create(role_name="ops", policies=["root"])
    assert str(refused.value).startswith(
        'token policies (["root"]) must be subset of the role\'s allowed policies'
    )


def test_role_crud_with_hvac(client: hvac.Client) -> None:
    client.auth.token.create_or_update_role(
        "deploy",
        allowed_policies=["deploy"],
        disallowed_policies=["ops"],
        renewable=False,
        token_explicit_max_ttl="2h",
        allowed_entity_aliases=["ci"],
    )
    read = client.auth.token.read_role("deploy")["data"]
    assert read["allowed_policies"] == ["deploy"]
    assert read["disallowed_policies"] == ["ops"]
    assert read["renewable"] is False
    assert read["token_explicit_max_ttl"] == 7200
    assert read["explicit_max_ttl"] == 7200
    assert read["allowed_entity_aliases"] == ["ci"]
    assert read["token_type"] == "default-service"
    assert client.auth.token.list_roles()["data"]["keys"] == ["deploy"]

    made = client.auth.token.create(role_name="deploy", ttl="5h")
    assert made["auth"]["renewable"] is False
    assert made["auth"]["lease_duration"] == 7200  # the role's explicit max caps the TTL
    # Allowed policies are checked first, as in Vault.
    with pytest.raises(hvac.exceptions.InvalidRequest, match="must be subset of the role's"):
        client.auth.token.create(role_name="deploy", policies=["ops"])

    client.auth.token.delete_role("deploy")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.auth.token.read_role("deploy")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="unknown role deploy"):
        client.auth.token.create(role_name="deploy")


def test_globs_and_bound_cidrs(api: Api, client: hvac.Client) -> None:
    written = api.request(
        "POST",
        "auth/token/roles/team",
        json={
            "allowed_policies_glob": ["team-*"],
            "disallowed_policies_glob": ["*-admin"],
            "token_bound_cidrs": "127.0.0.1/32",
        },
    )
    assert written.status_code == 204, written.text
    made = client.auth.token.create(role_name="team", policies=["team-read"])["auth"]
    assert made["policies"] == ["default", "team-read"]
    assert client.auth.token.lookup(made["client_token"])["data"]["bound_cidrs"] == ["127.0.0.1/32"]
    refused = api.request("POST", "auth/token/create/team", json={"policies": ["team-admin"]})
    assert assert_error_body(refused, 400) == [
        'token policy "team-admin" is disallowed by this role'
    ]
    batch = api.request("POST", "auth/token/roles/team", json={"token_type": "batch"})
    assert "service tokens only" in assert_error_body(batch, 400)[0]
    suffix = api.request("POST", "auth/token/roles/team", json={"path_suffix": "a/../b"})
    assert "cannot contain '..'" in assert_error_body(suffix, 400)[0]


def test_roles_through_the_bao_cli(bao: Bao, broker: BrokerThread) -> None:
    written = bao(
        "write", "auth/token/roles/ops", "allowed_policies=ops", "path_suffix=v1", "orphan=true"
    )
    assert written.code == 0, written.stderr
    shown = table(bao("read", "auth/token/roles/ops").stdout)
    assert shown["allowed_policies"] == "[ops]" and shown["path_suffix"] == "v1"
    assert "ops" in bao("list", "auth/token/roles").stdout.split()

    made = bao("token", "create", "-role=ops", "-format=json")
    assert made.code == 0, made.stderr
    auth = json.loads(made.stdout)["auth"]
    assert auth["policies"] == ["default", "ops"] and auth["orphan"] is True
    looked = table(bao("token", "lookup", auth["client_token"]).stdout)
    assert looked["role"] == "ops"
    assert looked["path"] == "auth/token/create/ops/v1"

    unknown = bao("token", "create", "-role=nope")
    assert unknown.code != 0 and "unknown role nope" in unknown.stderr
    assert bao("delete", "auth/token/roles/ops").code == 0
    empty = bao("list", "auth/token/roles")
    assert empty.code == 2 and "ops" not in empty.stdout.split()  # Vault's 404 for no keys
