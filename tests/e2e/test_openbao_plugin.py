"""The Entra engine inside a real OpenBao (`bao server -dev`) as an external plugin.

One dev server per module, the plugin registered by its launcher's sha256 and enabled
at entra/ and entra-b/ (another emulated tenant). Every credential is checked at the
emulated tenant itself; every lease is OpenBao's own (renewed, capped, revoked and
expired by its expiration manager).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import ThreadedEmulator, check_password
from tests.e2e.conftest import (
    CLIENT,
    SECRET,
    TENANT,
    Tenant,
    bao_binary,
    running_emulator,
)
from tests.openbao_dev import (
    ROOT_TOKEN,
    DevServer,
    plugin_pids,
    sha256_of,
    wait_gone,
    write_launcher,
)
from tests.waiting import wait_until_sync

TENANT_B = "5b7e0c41-2d9f-4a63-8e15-c0ffee0b0b0b"
PERMISSIONS = [
    "User.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
]


class OtherTenant(Tenant):
    """The second tenant: the same checks, under its own tenant id."""

    def signs_in(self, upn: str, password: str) -> bool:
        return asyncio.run(
            check_password(self.base_url, TENANT_B, CLIENT, upn, password, self.ca_path)
        )


@pytest.fixture(scope="module")
def tenant_b(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    """A second emulated tenant, for the second mount."""
    with running_emulator(tmp_path_factory.mktemp("emulator-b-certs"), TENANT_B) as emu:
        yield OtherTenant(emu)


def _config_args(tenant: Tenant, tenant_id: str) -> list[str]:
    return [
        f"tenant_id={tenant_id}",
        f"client_id={CLIENT}",
        f"client_secret={SECRET}",
        f"authority_host={tenant.base_url}",
        f"graph_endpoint={tenant.base_url}",
        f"ca_cert=@{tenant.ca_path}",
    ]


@pytest.fixture(scope="module")
def openbao(
    tmp_path_factory: pytest.TempPathFactory, emulator: ThreadedEmulator, tenant_b: Tenant
) -> Iterator[DevServer]:
    """bao server -dev, the plugin registered and enabled twice, both mounts configured."""
    root = tmp_path_factory.mktemp("openbao")
    (root / "plugins").mkdir()
    server = DevServer(root / "home", root / "plugins", bao_binary()).start()
    seen: list[int] = []
    try:
        Tenant(emulator).admin("PUT", "permissions", {"roles": PERMISSIONS})
        # Installed the documented way: the printed lines are run exactly as printed.
        for line in install_commands(root / "plugins"):
            server.ok(*shlex.split(line)[1:])
        server.ok("secrets", "enable", "-path=entra-b", "entra")
        server.ok("write", "entra/config", *_config_args(Tenant(emulator), TENANT))
        server.ok("write", "entra-b/config", *_config_args(tenant_b, TENANT_B))
        seen = plugin_pids(server.pid)
        yield server
    finally:
        seen += plugin_pids(server.pid)
        server.stop()
        for pid in set(seen):  # never leave one behind, even if the test below failed
            try:
                wait_gone([pid], timeout=5)
            except AssertionError:
                os.kill(pid, signal.SIGKILL)


def install_commands(plugin_dir: Path) -> list[str]:
    """`entra-broker openbao-plugin install`'s output lines (the launcher is written)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mount",
            "openbao-plugin",
            "install",
            "--plugin-dir",
            str(plugin_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout
    assert re.fullmatch(
        r"bao plugin register -sha256=[0-9a-f]{64} -command=entra-broker-plugin secret entra",
        lines[0],
    )
    assert lines[1] == "bao secrets enable -path=entra entra"
    return lines


def _read(server: DevServer, path: str) -> dict[str, Any]:
    return dict(json.loads(server.ok("read", "-format=json", path)))


def _lease_live(server: DevServer, lease_id: str) -> bool:
    found = server.cli("lease", "lookup", lease_id)
    return found.returncode == 0


def _renew(server: DevServer, lease_id: str, increment: str) -> subprocess.CompletedProcess[str]:
    return server.cli("lease", "renew", "-format=json", f"-increment={increment}", lease_id)


def test_one_process_serves_both_mounts(openbao: DevServer) -> None:
    assert _read(openbao, "entra/config")["data"]["tenant_id"] == TENANT
    assert _read(openbao, "entra-b/config")["data"]["tenant_id"] == TENANT_B
    assert len(plugin_pids(openbao.pid)) == 1
    # Our log lines reach OpenBao's log at their level (hclog JSON on stderr).
    assert re.search(r"\[INFO\] +secrets\.entra\.\S+: serving on 127\.0\.0\.1:\d+", openbao.log())


def test_password_issue_renew_capped_and_revoke(openbao: DevServer, tenant: Tenant) -> None:
    openbao.ok(
        "write",
        "entra/roles/alice",
        "user_principal_name=alice@example.test",
        "ttl=30s",
        "max_ttl=90s",
    )
    before = tenant.password_changes("alice@example.test")
    body = _read(openbao, "entra/creds/alice")
    data = body["data"]
    assert body["lease_id"].startswith("entra/creds/alice/")
    assert body["lease_duration"] == 30 and body["renewable"] is True
    assert data["user_principal_name"] == "alice@example.test"
    assert tenant.signs_in("alice@example.test", data["password"])
    assert tenant.password_changes("alice@example.test") == before + 1

    renewed = _renew(openbao, body["lease_id"], "45s")
    assert renewed.returncode == 0, renewed.stderr
    assert json.loads(renewed.stdout)["lease_duration"] == 45
    capped = _renew(openbao, body["lease_id"], "1h")
    assert capped.returncode == 0, capped.stderr
    answer = json.loads(capped.stdout)
    assert 80 <= answer["lease_duration"] <= 90
    assert any("exceeded the effective max_ttl" in w for w in answer["warnings"])

    openbao.ok("lease", "revoke", body["lease_id"])
    tenant.wait_signs_in_fails("alice@example.test", data["password"])
    assert tenant.password_changes("alice@example.test") == before + 2


def test_a_lease_left_to_expire_kills_the_password(openbao: DevServer, tenant: Tenant) -> None:
    openbao.ok(
        "write", "entra/roles/bob", "user_principal_name=bob@example.test", "ttl=2s", "max_ttl=2s"
    )
    data = _read(openbao, "entra/creds/bob")["data"]
    assert tenant.signs_in("bob@example.test", data["password"])
    # OpenBao's expiration manager revokes at expiry, through the plugin.
    took = tenant.wait_signs_in_fails("bob@example.test", data["password"], timeout=15)
    assert took < 10


def test_the_second_mount_uses_its_own_tenant(
    openbao: DevServer, tenant: Tenant, tenant_b: Tenant
) -> None:
    openbao.ok("write", "entra-b/roles/carol", "user_principal_name=carol@example.test")
    in_a = tenant.password_changes("carol@example.test")
    body = _read(openbao, "entra-b/creds/carol")
    password = body["data"]["password"]
    assert tenant_b.signs_in("carol@example.test", password)
    assert not tenant.signs_in("carol@example.test", password)
    assert tenant.password_changes("carol@example.test") == in_a
    roles_a = openbao.cli("list", "entra/roles")
    assert "carol" not in roles_a.stdout
    openbao.ok("lease", "revoke", "-sync", body["lease_id"])
    assert not tenant_b.signs_in("carol@example.test", password)


def test_temporary_access_pass_role(openbao: DevServer, tenant: Tenant) -> None:
    openbao.ok(
        "write",
        "entra/roles/bobtap",
        "credential_type=temporary_access_pass",
        "user_principal_name=bob@example.test",
        "ttl=15m",
    )
    body = _read(openbao, "entra/creds/bobtap")
    data = body["data"]
    assert data["lifetime_in_minutes"] == 15 and body["renewable"] is False
    signed = tenant.admin(
        "POST",
        "users/bob@example.test/temporaryAccessPasses/signIn",
        {"temporaryAccessPass": data["temporary_access_pass"]},
    )
    assert signed["signed_in"] is True
    refused = _renew(openbao, body["lease_id"], "1m")
    assert refused.returncode != 0 and "not renewable" in refused.stderr
    openbao.ok("lease", "revoke", "-sync", body["lease_id"])
    assert tenant.admin("GET", "users/bob@example.test/temporaryAccessPasses") == []


def test_client_secret_role(openbao: DevServer, tenant: Tenant) -> None:
    app = tenant.admin("POST", "applications", {"displayName": f"app-{uuid.uuid4().hex[:6]}"})
    openbao.ok(
        "write",
        "entra/roles/app",
        "credential_type=client_secret",
        f"application_object_id={app['id']}",
        "ttl=1h",
    )
    body = _read(openbao, "entra/creds/app")
    data = body["data"]
    assert data["client_id"] == app["appId"]
    assert tenant.client_secret_answer(app["appId"], data["client_secret"]).status_code == 200
    openbao.ok("lease", "revoke", "-sync", body["lease_id"])
    assert tenant.client_secret_answer(app["appId"], data["client_secret"]).status_code != 200


def test_errors_keep_their_status(openbao: DevServer) -> None:
    missing = httpx.get(
        f"{openbao.url}/v1/entra/creds/nobody", headers={"X-Vault-Token": ROOT_TOKEN}, timeout=30
    )
    # Exactly as OpenBao's own engines answer a 400 (FINDINGS.md: "unknown role: nope").
    assert missing.status_code == 400 and missing.json() == {"errors": ["unknown role: nobody"]}
    absent = openbao.cli("read", "entra/roles/nobody")
    assert absent.returncode == 2 and "No value found at entra/roles/nobody" in absent.stderr
    unknown = httpx.get(
        f"{openbao.url}/v1/entra/nope", headers={"X-Vault-Token": ROOT_TOKEN}, timeout=30
    )
    assert unknown.status_code == 404 and "unsupported path" in unknown.json()["errors"][0]
    wrong = httpx.delete(
        f"{openbao.url}/v1/entra/creds/alice", headers={"X-Vault-Token": ROOT_TOKEN}, timeout=30
    )
    assert wrong.status_code == 405, wrong.text


def test_without_the_magic_cookie_it_says_what_it_is() -> None:
    env = {k: v for k, v in os.environ.items() if k != "VAULT_BACKEND_PLUGIN"}
    done = subprocess.run(
        [sys.executable, "-m", "goplugin.entra"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "OpenBao" in done.stderr and "plugin" in done.stderr


def test_the_plugin_exits_when_openbao_is_killed(tmp_path: Path) -> None:
    launcher = write_launcher(tmp_path / "plugins")
    server = DevServer(tmp_path / "home", tmp_path / "plugins", bao_binary()).start()
    try:
        server.register(launcher)
        server.ok("secrets", "enable", "-path=entra", "entra")
        server.ok("read", "sys/mounts/entra")
        wait_until_sync(lambda: len(plugin_pids(server.pid)) == 1, timeout=10)
        pids = plugin_pids(server.pid)
    finally:
        server.stop(signal.SIGKILL)  # no Shutdown call reaches the plugin
    wait_gone(pids, timeout=10)


# Rotate mode under OpenBao: its core revokes a superseded lease at expiry (our own host
# ends it without a revoke), and the engine must know the newer password is current.
def test_expiry_of_a_superseded_lease_spares_the_newer_password(
    openbao: DevServer, tenant: Tenant
) -> None:
    openbao.ok("write", "entra/roles/carolrot", "user_principal_name=carol@example.test", "ttl=2s")
    first = _read(openbao, "entra/creds/carolrot")
    openbao.ok("write", "entra/roles/carolrot", "user_principal_name=carol@example.test", "ttl=1h")
    second = _read(openbao, "entra/creds/carolrot")
    assert not tenant.signs_in("carol@example.test", first["data"]["password"])
    wait_until_sync(lambda: not _lease_live(openbao, first["lease_id"]), timeout=15, interval=0.2)
    try:
        assert tenant.signs_in("carol@example.test", second["data"]["password"])
    finally:
        openbao.ok("lease", "revoke", "-sync", second["lease_id"])


def test_help_and_a_third_mount_come_and_go(openbao: DevServer, tenant: Tenant) -> None:
    helped = openbao.ok("path-help", "entra/creds/alice")
    assert "Issue the role's credential" in helped
    assert "## PATHS" in openbao.ok("path-help", "entra/")
    openbao.ok("secrets", "enable", "-path=entra-c", "entra")
    unconfigured = openbao.cli("write", "entra-c/roles/x", "user_principal_name=x@example.test")
    # The engine names its own mount in its sentences.
    assert "write entra-c/config first" in " ".join(unconfigured.stderr.split())
    openbao.ok("write", "entra-c/config", *_config_args(tenant, TENANT))
    openbao.ok("write", "entra-c/roles/x", "user_principal_name=carol@example.test")
    assert "x" in openbao.ok("list", "entra-c/roles")
    openbao.ok("secrets", "disable", "entra-c")  # Cleanup of that mount's backend only
    assert _read(openbao, "entra/config")["data"]["tenant_id"] == TENANT
    assert len(plugin_pids(openbao.pid)) == 1
    openbao.ok("secrets", "enable", "-path=entra-c", "entra")
    assert openbao.cli("list", "entra-c/roles").returncode == 2  # a new mount starts empty
    openbao.ok("secrets", "disable", "entra-c")


def test_a_tuned_default_ttl_reaches_the_engine(openbao: DevServer) -> None:
    openbao.ok("write", "entra-b/roles/carold", "user_principal_name=carol@example.test")
    assert _read(openbao, "entra-b/creds/carold")["lease_duration"] == 768 * 3600
    openbao.ok("secrets", "tune", "-default-lease-ttl=3m", "entra-b/")
    # The engine reads the mount's limits again within seconds (goplugin.mounts).
    wait_until_sync(
        lambda: _read(openbao, "entra-b/creds/carold")["lease_duration"] == 180,
        timeout=30,
        interval=1.0,
    )


def test_plugin_reload_starts_a_fresh_process_and_leases_live_on(
    openbao: DevServer, tenant: Tenant
) -> None:
    openbao.ok("write", "entra/roles/bobre", "user_principal_name=bob@example.test", "ttl=1h")
    body = _read(openbao, "entra/creds/bobre")
    before = plugin_pids(openbao.pid)
    openbao.ok("plugin", "reload", "-plugin=entra")
    assert _read(openbao, "entra/config")["data"]["tenant_id"] == TENANT
    after = plugin_pids(openbao.pid)
    assert len(after) == 1 and after != before
    wait_gone(before, timeout=10)
    # The lease is OpenBao's: the new process renews and revokes it.
    renewed = _renew(openbao, body["lease_id"], "30m")
    assert renewed.returncode == 0 and json.loads(renewed.stdout)["lease_duration"] == 1800
    openbao.ok("lease", "revoke", "-sync", body["lease_id"])
    assert not tenant.signs_in("bob@example.test", body["data"]["password"])


# Exclusive mode and the per-role issue limit are the engine's own rules
# (plugin/issue_guard.py): OpenBao's core knows neither, and they hold here too.
def test_exclusive_mode_refuses_a_second_read_until_the_lease_is_revoked(
    openbao: DevServer, tenant: Tenant
) -> None:
    upn = "bob@example.test"
    openbao.ok("write", "entra/roles/dave", f"user_principal_name={upn}", "mode=exclusive")
    openbao.ok("write", "entra/roles/dave-ops", f"user_principal_name={upn}")
    held = _read(openbao, "entra/creds/dave")
    try:
        changes = tenant.password_changes(upn)
        for role in ("dave", "dave-ops"):
            refused = openbao.cli("read", f"entra/creds/{role}")
            said = " ".join(refused.stderr.split())
            assert refused.returncode == 2 and "Code: 400" in said, said
            assert (
                f"the credential at entra/creds/{role} is checked out by a lease of "
                "entra/creds/dave issued at "
            ) in said
        assert tenant.password_changes(upn) == changes
        assert tenant.signs_in(upn, held["data"]["password"])
    finally:
        openbao.ok("lease", "revoke", "-sync", held["lease_id"])
    assert not tenant.signs_in(upn, held["data"]["password"])
    again = _read(openbao, "entra/creds/dave")
    assert tenant.signs_in(upn, again["data"]["password"])
    openbao.ok("lease", "revoke", "-sync", again["lease_id"])


def test_the_issue_limit_comes_from_the_mount_options(openbao: DevServer, tenant: Tenant) -> None:
    openbao.ok(
        "secrets",
        "enable",
        "-path=entra-l",
        "-options=role_issue_limit=2",
        "-options=role_issue_interval=1m",
        "entra",
    )
    try:
        openbao.ok("write", "entra-l/config", *_config_args(tenant, TENANT))
        openbao.ok("write", "entra-l/roles/erin", "user_principal_name=bob@example.test")
        for _ in range(2):
            _read(openbao, "entra-l/creds/erin")
        changes = tenant.password_changes("bob@example.test")
        refused = openbao.cli("read", "entra-l/creds/erin")
        said = " ".join(refused.stderr.split())
        assert "Code: 429" in said, said
        assert (
            "too many credentials issued for entra-l/creds/erin: the limit is 2 per 1m "
            "(role_issue_limit)"
        ) in said
        assert tenant.password_changes("bob@example.test") == changes
        # A mistyped option fails the mount's first request with the option's name.
        openbao.ok(
            "secrets", "enable", "-path=entra-bad", "-options=role_issue_limit=many", "entra"
        )
        bad = openbao.cli("read", "entra-bad/config")
        assert "invalid mount option role_issue_limit='many'" in " ".join(bad.stderr.split())
    finally:
        openbao.ok("secrets", "disable", "entra-l")
        openbao.cli("secrets", "disable", "entra-bad")


def test_an_upgrade_to_a_registered_version_keeps_the_mounts_data(
    openbao: DevServer, tenant: Tenant
) -> None:
    """docs/openbao.md's upgrade steps: register with -version, tune the mount, reload."""
    from importlib.metadata import version

    tag = f"v{version('entra-broker')}"
    launcher = openbao.plugin_dir / "entra-broker-plugin"
    openbao.ok("secrets", "enable", "-path=entra-v", "entra")
    try:
        openbao.ok("write", "entra-v/config", *_config_args(tenant, TENANT))
        openbao.ok("write", "entra-v/roles/carolv", "user_principal_name=carol@example.test")
        openbao.ok(
            "plugin",
            "register",
            f"-sha256={sha256_of(launcher)}",
            f"-command={launcher.name}",
            f"-version={tag}",
            "secret",
            "entra",
        )
        openbao.ok("secrets", "tune", f"-plugin-version={tag}", "entra-v")
        openbao.ok("plugin", "reload", "-plugin=entra")
        mount = _read(openbao, "sys/mounts/entra-v")["data"]
        # The version the plugin reports is the one the mount runs.
        assert mount["plugin_version"] == mount["running_plugin_version"] == tag
        assert _read(openbao, "entra-v/config")["data"]["tenant_id"] == TENANT
        issued = _read(openbao, "entra-v/creds/carolv")
        assert tenant.signs_in("carol@example.test", issued["data"]["password"])
        openbao.ok("lease", "revoke", "-sync", issued["lease_id"])
        assert not tenant.signs_in("carol@example.test", issued["data"]["password"])
    finally:
        openbao.ok("secrets", "disable", "entra-v")
