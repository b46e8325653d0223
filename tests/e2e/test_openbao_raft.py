"""HA on OpenBao's Raft: the Entra engine in a three-node cluster survives losing the active node.

Three `bao server` nodes with `storage "raft"` on loopback, joined; the plugin registered
once (the catalog is replicated); credentials issued through the active node and through
a standby (which forwards). Then the active node is killed with SIGKILL: a standby takes
over, starts its own plugin process, renews a lease issued before the failover, and its
expiration manager revokes that lease at expiry, through the plugin: the password dies.

About a minute of real time (three servers, a failover, an expiry): marked slow, and run
by CI in its own step (`.ci/run`): `python -m pytest -m slow tests/e2e/test_openbao_raft.py`.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from emulator import ThreadedEmulator
from tests.e2e.conftest import ALICE, BOB, CLIENT, SECRET, TENANT, Tenant, bao_binary
from tests.e2e.test_openbao_plugin import PERMISSIONS, install_commands
from tests.openbao_dev import plugin_pids, wait_gone
from tests.openbao_raft import RaftCluster, RaftNode
from tests.waiting import wait_until_sync

# Long enough to outlast the failover on a loaded machine, short enough to watch expire.
LEASE_TTL = 40


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, emulator: ThreadedEmulator
) -> Iterator[RaftCluster]:
    started = RaftCluster(tmp_path_factory.mktemp("raft"), bao_binary())
    seen: list[int] = []
    try:
        started.start()
        Tenant(emulator).admin("PUT", "permissions", {"roles": PERMISSIONS})
        first = started.nodes[0]
        # Installed on every node (the docs' HA steps); the printed commands are the
        # same everywhere, since the catalog keeps one sha256 for the cluster.
        printed = [install_commands(node.plugin_dir) for node in started.nodes]
        assert all(lines == printed[0] for lines in printed), printed
        # Registered once, on the active node, exactly as printed.
        for line in printed[0]:
            first.ok(*shlex.split(line)[1:])
        tenant = Tenant(emulator)
        first.ok(
            "write",
            "entra/config",
            f"tenant_id={TENANT}",
            f"client_id={CLIENT}",
            f"client_secret={SECRET}",
            f"authority_host={tenant.base_url}",
            f"graph_endpoint={tenant.base_url}",
            f"ca_cert=@{tenant.ca_path}",
        )
        yield started
    finally:
        for node in started.nodes:
            if node.proc is not None:
                seen += plugin_pids(node.pid)
        started.stop()
        for pid in set(seen):  # never leave a plugin process behind
            try:
                wait_gone([pid], timeout=5)
            except AssertionError:
                os.kill(pid, signal.SIGKILL)


def _read(node: RaftNode, path: str) -> dict[str, Any]:
    return dict(json.loads(node.ok("read", "-format=json", path)))


@pytest.mark.slow
def test_a_standby_takes_over_and_revokes_at_expiry(cluster: RaftCluster, tenant: Tenant) -> None:
    active = cluster.active()
    assert active is cluster.nodes[0]
    standby = cluster.nodes[1]
    active.ok("write", "entra/roles/alice", f"user_principal_name={ALICE}", f"ttl={LEASE_TTL}s")
    active.ok("write", "entra/roles/bob", f"user_principal_name={BOB}", "ttl=10m")

    held = _read(active, "entra/creds/alice")
    # A standby forwards to the active node: the same engine, the same storage.
    forwarded = _read(standby, "entra/creds/bob")
    assert tenant.signs_in(ALICE, held["data"]["password"])
    assert tenant.signs_in(BOB, forwarded["data"]["password"])
    old_plugins = plugin_pids(active.pid)
    assert len(old_plugins) == 1, "one plugin process serves the active node's mounts"

    assert active.proc is not None
    active.proc.send_signal(signal.SIGKILL)
    active.proc.wait(10)
    # The plugin exits when its OpenBao goes away.
    wait_gone(old_plugins, timeout=15)
    killed_at = time.monotonic()
    wait_until_sync(lambda: cluster.active() is not None, 60, interval=0.2)
    new_active = cluster.active()
    assert new_active is not None and new_active is not active
    took_over = time.monotonic() - killed_at

    # A lease issued before the failover is renewable through the new active node.
    renewed = json.loads(
        new_active.ok("lease", "renew", "-format=json", "-increment=10s", held["lease_id"])
    )
    assert renewed["lease_id"] == held["lease_id"] and 0 < renewed["lease_duration"] <= 10
    renewed_at = time.monotonic()
    assert len(plugin_pids(new_active.pid)) == 1, "the new active node runs its own plugin"
    assert tenant.signs_in(ALICE, held["data"]["password"])

    # New credentials come from the new active node and work.
    fresh = _read(new_active, "entra/creds/bob")
    assert tenant.signs_in(BOB, fresh["data"]["password"])
    assert not tenant.signs_in(BOB, forwarded["data"]["password"])

    # The new active node's expiration manager revokes alice's lease at its expiry.
    died_after = tenant.wait_signs_in_fails(
        ALICE, held["data"]["password"], timeout=renewed["lease_duration"] + 30
    )
    assert time.monotonic() - renewed_at >= renewed["lease_duration"] - 2, (
        "the password died before its lease expired"
    )
    lookup = new_active.cli("lease", "lookup", held["lease_id"])
    assert lookup.returncode != 0, "the lease is gone"
    new_active.ok("lease", "revoke", "-sync", fresh["lease_id"])
    assert not tenant.signs_in(BOB, fresh["data"]["password"])
    print(f"failover took {took_over:.1f}s; the password died {died_after:.1f}s after renewal")
