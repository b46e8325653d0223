"""OpenBao's periodic rollback reaches the plugin and undoes another node's orphan.

A write-ahead entry left by a plugin on another node (an HA failover: its writer cannot
be seen from here) is rolled back once it is older than goplugin.wal.MIN_AGE, by
OpenBao's rollback manager, which calls every mount's `rollback` operation each minute;
a younger one is left alone. The entries are written into the mount's storage through
`sys/raw` (enabled by a config file beside -dev), as the other node's plugin would have.

Waits for OpenBao's one-minute tick: marked slow, and run by CI in its own step with
the Raft test (`.ci/run`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator import ThreadedEmulator
from goplugin.wal import MIN_AGE, WAL_PREFIX
from tests.e2e.conftest import ALICE, BOB, CLIENT, SECRET, TENANT, Tenant, bao_binary
from tests.e2e.test_openbao_plugin import PERMISSIONS
from tests.openbao_dev import ROOT_TOKEN, DevServer, write_launcher
from tests.waiting import wait_until_sync

# OpenBao's rollback period is one minute; the first tick may come up to a minute late.
TICK_WAIT = 150.0


@pytest.fixture
def openbao(tmp_path, emulator: ThreadedEmulator) -> Iterator[DevServer]:
    (tmp_path / "raw.hcl").write_text("raw_storage_endpoint = true\n")
    launcher = write_launcher(tmp_path / "plugins")
    server = DevServer(
        tmp_path / "home",
        tmp_path / "plugins",
        bao_binary(),
        extra=[f"-config={tmp_path / 'raw.hcl'}"],
    ).start()
    try:
        tenant = Tenant(emulator)
        tenant.admin("PUT", "permissions", {"roles": PERMISSIONS})
        server.register(launcher)
        server.ok("secrets", "enable", "-path=entra", "entra")
        server.ok(
            "write",
            "entra/config",
            f"tenant_id={TENANT}",
            f"client_id={CLIENT}",
            f"client_secret={SECRET}",
            f"authority_host={tenant.base_url}",
            f"graph_endpoint={tenant.base_url}",
            f"ca_cert=@{tenant.ca_path}",
        )
        yield server
    finally:
        server.stop()


def _raw(server: DevServer, method: str, key: str, value: Any = None) -> httpx.Response:
    body = None if value is None else {"value": json.dumps(value)}
    return httpx.request(
        method,
        f"{server.url}/v1/sys/raw/{key}",
        json=body,
        headers={"X-Vault-Token": ROOT_TOKEN},
        timeout=30,
    )


def _entry(user: dict[str, Any], role: str, age: float) -> dict[str, Any]:
    return {
        "kind": "issue",
        "secret_type": "entra_password",
        "internal": {
            "role": role,
            "object_id": user["id"],
            "user_principal_name": user["userPrincipalName"],
        },
        "path": f"creds/{role}",
        "created": time.time() - age,
        "writer": {"host": "another-node.invalid", "pid": 4242, "started": "1"},
    }


@pytest.mark.slow
def test_the_rollback_tick_undoes_an_old_orphan_of_another_node(
    openbao: DevServer, tenant: Tenant
) -> None:
    for name, upn in (("alice", ALICE), ("bob", BOB)):
        openbao.ok("write", f"entra/roles/{name}", f"user_principal_name={upn}")
    openbao.ok("read", "entra/config")  # the plugin runs: its first-use rollback is done
    uuid = json.loads(openbao.ok("read", "-format=json", "sys/mounts/entra"))["data"]["uuid"]
    wal = f"logical/{uuid}/{WAL_PREFIX}"
    users = tenant.users()
    old, young = "0" * 31 + "1", "0" * 31 + "2"
    assert _raw(openbao, "PUT", wal + old, _entry(users[ALICE], "alice", MIN_AGE + 60)).is_success
    assert _raw(openbao, "PUT", wal + young, _entry(users[BOB], "bob", 0)).is_success
    before = {upn: tenant.password_changes(upn) for upn in (ALICE, BOB)}

    # The old entry's credential is revoked (alice's password reset) and the entry dropped.
    wait_until_sync(
        lambda: _raw(openbao, "GET", wal + old).status_code == 404, TICK_WAIT, interval=1.0
    )
    assert tenant.password_changes(ALICE) == before[ALICE] + 1
    # The young one may be a live issue on its node: left for a later tick.
    assert _raw(openbao, "GET", wal + young).status_code == 200
    assert tenant.password_changes(BOB) == before[BOB]
    assert "rollback: 1 unanswered issue(s) undone" in openbao.log()
