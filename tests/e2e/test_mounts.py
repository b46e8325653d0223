"""Several Entra mounts: enable, tune, disable through the real `bao` CLI and hvac.

Two mounts (entra/ and entra-prod/) are configured against the same emulated tenant,
each with its own config, roles, leases and metric series; whether a password works is
asked of the tenant itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest

from mount.sdk.telemetry import CREDS_ISSUED
from plugin.metrics import GRAPH_REQUESTS
from tests.broker_thread import BrokerThread
from tests.e2e.conftest import (
    ALICE,
    BOB,
    Api,
    Bao,
    Setup,
    Tenant,
    assert_error_body,
    make_client,
)
from tests.waiting import wait_until_sync

TYPES_SENTENCE = "available types: entra"


def mount_setup(api: Api, tenant: Tenant, mount: str) -> dict[str, Any]:
    """Write `<mount>/config` against the emulator, failing loudly."""
    data = Setup(api, tenant).config_data()
    response = api.request("PUT", f"{mount}/config", json=data)
    assert response.status_code in (200, 204), response.text
    return data


def role(api: Api, mount: str, name: str, **fields: Any) -> None:
    fields.setdefault("user_principal_name", f"{name}@example.test")
    response = api.request("PUT", f"{mount}/roles/{name}", json=fields)
    assert response.status_code in (200, 204), response.text


def creds(api: Api, mount: str, name: str) -> dict[str, Any]:
    response = api.request("GET", f"{mount}/creds/{name}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["lease_id"].startswith(f"{mount}/creds/{name}/")
    return body


def secrets_list(bao: Bao) -> dict[str, Any]:
    run = bao("secrets", "list", "-format=json")
    assert run.code == 0, run.stderr
    found: dict[str, Any] = json.loads(run.stdout)
    return found


def test_two_mounts_each_with_its_own_config_roles_creds_and_metrics(
    broker: BrokerThread, api: Api, tenant: Tenant, client: hvac.Client
) -> None:
    client.sys.enable_secrets_engine("entra", path="entra-prod", description="production")
    mounted = client.sys.list_mounted_secrets_engines()["data"]
    assert mounted["entra-prod/"]["type"] == "entra"
    assert mounted["entra-prod/"]["description"] == "production"
    assert mounted["entra-prod/"]["accessor"] != mounted["entra/"]["accessor"]

    # The new mount starts unconfigured, on its own storage.
    unconfigured = api.request("GET", "entra-prod/creds/bob")
    assert unconfigured.status_code == 400
    mount_setup(api, tenant, "entra")
    mount_setup(api, tenant, "entra-prod")
    role(api, "entra", "alice")
    role(api, "entra-prod", "bob")
    assert api.request("LIST", "entra/roles").json()["data"]["keys"] == ["alice"]
    assert api.request("LIST", "entra-prod/roles").json()["data"]["keys"] == ["bob"]
    assert api.request("GET", "entra/roles/bob").status_code == 404

    alice = creds(api, "entra", "alice")
    bob = creds(api, "entra-prod", "bob")
    assert tenant.signs_in(ALICE, alice["data"]["password"])
    assert tenant.signs_in(BOB, bob["data"]["password"])

    assert broker.core is not None
    metrics = broker.core.metrics
    assert metrics.value(CREDS_ISSUED, {"mount": "entra/", "role": "alice"}) == 1
    assert metrics.value(CREDS_ISSUED, {"mount": "entra-prod/", "role": "bob"}) == 1
    # The engine's own Graph series are separate per mount.
    graph = {tuple(sorted(labels.items())) for labels in metrics.label_sets(GRAPH_REQUESTS)}
    mounts = {dict(labels)["mount"] for labels in graph}
    assert mounts == {"entra/", "entra-prod/"}


def test_disable_revokes_the_mounts_leases_and_leaves_the_other_mount_alone(
    broker: BrokerThread, api: Api, tenant: Tenant, bao: Bao
) -> None:
    run = bao("secrets", "enable", "-path=entra-prod", "entra")
    assert run.code == 0, run.stderr
    assert "Success! Enabled the entra secrets engine at: entra-prod/" in run.stdout
    for mount, name in (("entra", "alice"), ("entra-prod", "bob")):
        mount_setup(api, tenant, mount)
        role(api, mount, name)
    alice = creds(api, "entra", "alice")["data"]["password"]
    bob = creds(api, "entra-prod", "bob")["data"]["password"]

    run = bao("secrets", "disable", "entra-prod")
    assert run.code == 0, run.stderr
    # Revoked before the disable answered: the password is dead at once.
    assert not tenant.signs_in(BOB, bob)
    assert tenant.signs_in(ALICE, alice)
    assert "entra-prod/" not in secrets_list(bao)
    assert api.request("LIST", "sys/leases/lookup/entra-prod/creds/bob").status_code == 404
    assert api.request("GET", "entra-prod/roles/bob").status_code == 404

    # Enabled again at the same path, it starts empty: no config, no roles.
    assert bao("secrets", "enable", "-path=entra-prod", "entra").code == 0
    assert api.request("LIST", "entra-prod/roles").status_code == 404
    assert api.request("GET", "entra-prod/config").status_code in (400, 404)


def test_a_disable_whose_revocation_fails_keeps_the_mount(tmp_path: Path, tenant: Tenant) -> None:
    # Refusals for good are retried every revoke_slow_interval: short here.
    with BrokerThread(tmp_path / "slow-retry", revoke_slow_interval=0.5) as broker:
        api, client = Api(broker.url), make_client(broker)
        client.sys.enable_secrets_engine("entra", path="entra-prod")
        mount_setup(api, tenant, "entra-prod")
        role(api, "entra-prod", "bob")
        bob = creds(api, "entra-prod", "bob")
        tenant.fault(match="PATCH /v1.0/users/.*", status=403, code="Authorization_RequestDenied")

        with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
            client.sys.disable_secrets_engine("entra-prod")
        assert "failed to revoke the leases of entra-prod/, so it stays mounted" in str(
            refused.value
        )
        assert "Authorization_RequestDenied" in str(refused.value)
        assert "entra-prod/" in client.sys.list_mounted_secrets_engines()["data"]
        assert tenant.signs_in(BOB, bob["data"]["password"])
        assert api.request("GET", "entra-prod/roles/bob").status_code == 200

        # Once Entra allows it again, the retry kills the password and the disable passes.
        tenant.clear_faults()
        tenant.wait_signs_in_fails(BOB, bob["data"]["password"], timeout=20)
        wait_until_sync(
            lambda: api.request("LIST", "sys/leases/lookup/entra-prod/").status_code == 404,
            timeout=20,
            interval=0.2,
        )
        client.sys.disable_secrets_engine("entra-prod")
        assert "entra-prod/" not in client.sys.list_mounted_secrets_engines()["data"]


def test_tune_gives_new_leases_the_mounts_ttls_and_survives_a_restart(
    broker: BrokerThread, api: Api, tenant: Tenant, bao: Bao, client: hvac.Client
) -> None:
    run = bao(
        "secrets",
        "enable",
        "-path=entra-prod",
        "-description=production tenant",
        "-default-lease-ttl=1h",
        "-max-lease-ttl=2h",
        "entra",
    )
    assert run.code == 0, run.stderr
    mount_setup(api, tenant, "entra-prod")
    role(api, "entra-prod", "bob")
    assert creds(api, "entra-prod", "bob")["lease_duration"] == 3600

    run = bao("secrets", "tune", "-default-lease-ttl=10m", "-description=prod", "entra-prod/")
    assert run.code == 0, run.stderr
    tuned = client.sys.read_mount_configuration("entra-prod")["data"]
    assert (tuned["default_lease_ttl"], tuned["max_lease_ttl"]) == (600, 7200)
    assert tuned["description"] == "prod"
    assert creds(api, "entra-prod", "bob")["lease_duration"] == 600
    # A role asking for more than the mount's max is capped at it.
    role(api, "entra-prod", "bob", ttl="5h")
    assert creds(api, "entra-prod", "bob")["lease_duration"] == 7200

    client.sys.tune_mount_configuration("entra-prod", max_lease_ttl="30m")
    assert creds(api, "entra-prod", "bob")["lease_duration"] == 1800
    refused = api.request("POST", "sys/mounts/entra-prod/tune", json={"max_lease_ttl": "1m"})
    assert assert_error_body(refused, 400) == [
        "backend max lease TTL of 60 would be less than backend default lease TTL of 600"
    ]

    broker.restart()
    listed = secrets_list(bao)
    assert listed["entra-prod/"]["description"] == "prod"
    assert listed["entra-prod/"]["config"]["default_lease_ttl"] == 600
    assert listed["entra-prod/"]["config"]["max_lease_ttl"] == 1800
    # entra/ is not doubled, and both keep their roles.
    assert sorted(p for p, e in listed.items() if e["type"] == "entra") == [
        "entra-prod/",
        "entra/",
    ]
    assert creds(api, "entra-prod", "bob")["lease_duration"] == 1800
    run = bao("read", "-format=json", "sys/mounts/entra-prod/tune")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["data"]["max_lease_ttl"] == 1800


def test_a_disabled_default_mount_stays_disabled_after_a_restart(
    broker: BrokerThread, bao: Bao
) -> None:
    accessor = secrets_list(bao)["entra/"]["accessor"]
    broker.restart()
    assert secrets_list(bao)["entra/"]["accessor"] == accessor
    assert bao("secrets", "disable", "entra").code == 0
    broker.restart()
    assert "entra/" not in secrets_list(bao)
    assert bao("secrets", "enable", "entra").code == 0
    assert "entra/" in secrets_list(bao)


def test_refusals_name_what_to_fix(api: Api, bao: Bao, client: hvac.Client) -> None:
    run = bao("secrets", "enable", "kv")
    assert run.code != 0
    assert "plugin not found in the catalog: kv" in run.flat_stderr
    assert TYPES_SENTENCE in run.flat_stderr
    with pytest.raises(hvac.exceptions.InvalidRequest) as refused:
        client.sys.enable_secrets_engine("pki", path="pki")
    assert TYPES_SENTENCE in str(refused.value)

    taken = api.request("POST", "sys/mounts/entra", json={"type": "entra"})
    assert assert_error_body(taken, 409) == ["path is already in use at entra/"]
    nested = api.request("POST", "sys/mounts/entra/inner", json={"type": "entra"})
    assert assert_error_body(nested, 409) == ["path is already in use at entra/"]
    for path in ("sys/x", "auth/x", "cubbyhole"):
        reserved = api.request("POST", f"sys/mounts/{path}", json={"type": "entra"})
        assert assert_error_body(reserved, 403) == [f'cannot mount "{path}/"']
    singleton = api.request("POST", "sys/mounts/t", json={"type": "token"})
    assert assert_error_body(singleton, 403) == ['mount type of "token" is not mountable']
    bad_ttl = api.request(
        "POST",
        "sys/mounts/e2",
        json={"type": "entra", "config": {"default_lease_ttl": "2h", "max_lease_ttl": "1h"}},
    )
    assert assert_error_body(bad_ttl, 400) == [
        "given default lease TTL greater than given max lease TTL"
    ]
    garbled = api.request(
        "POST", "sys/mounts/e2", json={"type": "entra", "config": {"max_lease_ttl": "soon"}}
    )
    assert assert_error_body(garbled, 400)[0].startswith("unable to parse max TTL of soon")
    unknown = api.request("GET", "sys/mounts/nosuch")
    assert assert_error_body(unknown, 400) == ["No secret engine mount at nosuch/"]
    sys_disable = api.request("DELETE", "sys/mounts/sys")
    assert assert_error_body(sys_disable, 400) == ['cannot unmount "sys/"']
    sys_tune = api.request("POST", "sys/mounts/sys/tune", json={"default_lease_ttl": "1h"})
    assert assert_error_body(sys_tune, 400) == ["cannot tune parameter default_lease_ttl of sys/"]
    # Nothing was mounted by any of these.
    assert sorted(secrets_list(bao)) == ["entra/", "sys/"]


def test_a_renewal_stays_within_the_mounts_max(
    api: Api, tenant: Tenant, bao: Bao, client: hvac.Client
) -> None:
    client.sys.enable_secrets_engine(
        "entra", path="entra-prod", config={"default_lease_ttl": "5m", "max_lease_ttl": "10m"}
    )
    mount_setup(api, tenant, "entra-prod")
    role(api, "entra-prod", "bob", max_ttl="1h")
    lease = creds(api, "entra-prod", "bob")
    assert lease["lease_duration"] == 300
    run = bao("lease", "renew", "-format=json", "-increment=1h", lease["lease_id"])
    assert run.code == 0, run.stderr
    renewed = json.loads(run.stdout)
    # The role allows an hour; the mount's max of 10 minutes since issue wins.
    assert 590 <= renewed["lease_duration"] <= 600
