"""The real `bao` CLI (OpenBao 2.7.2) against the broker and the emulated Entra tenant.

Every command is the one an operator types; outputs are compared with what the CLI printed
against a real OpenBao server (shared/reference/openbao/cli), and every issued password
is checked against the tenant itself.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.conftest import (
    ALICE,
    BOB,
    CAROL,
    CLIENT,
    LEASE_ID,
    SECRET,
    TENANT,
    Bao,
    Run,
    Tenant,
    parse_time,
    table,
)


def ok(run: Run) -> Run:
    assert run.code == 0, f"exit {run.code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


def api_error(run: Run, status: int, sentence: str) -> None:
    """The CLI's rendering of an API error: exit 2, the status code and `* <sentence>`."""
    assert run.code == 2, run
    assert run.stdout == "", run
    assert f"Code: {status}. Errors:" in run.stderr, run.stderr
    assert f"\n* {sentence}\n" in run.stderr, run.stderr


def write_config(bao: Bao, tenant: Tenant) -> Run:
    return bao(
        "write",
        "entra/config",
        f"tenant_id={TENANT}",
        f"client_id={CLIENT}",
        f"client_secret={SECRET}",
        f"authority_host={tenant.base_url}",
        f"graph_endpoint={tenant.base_url}",
        f"ca_cert=@{tenant.ca_path}",
    )


@pytest.fixture
def cli_ready(bao: Bao, tenant: Tenant) -> Bao:
    """Config and roles alice (1h/2h), bob and carol, all written with the CLI."""
    ok(write_config(bao, tenant))
    ok(bao("write", "entra/roles/alice", f"user_principal_name={ALICE}", "ttl=1h", "max_ttl=2h"))
    ok(bao("write", "entra/roles/bob", f"user_principal_name={BOB}", "ttl=1h", "max_ttl=2h"))
    ok(bao("write", "entra/roles/carol", f"user_principal_name={CAROL}"))
    return bao


def read_creds_json(bao: Bao, role: str = "alice") -> dict:
    run = ok(bao("read", "-format=json", f"entra/creds/{role}"))
    return json.loads(run.stdout)


# -- configuration and roles ------------------------------------------------------------------


def test_write_config_and_roles_then_read_and_list_them(bao: Bao, tenant: Tenant) -> None:
    run = ok(write_config(bao, tenant))
    assert run.stdout.strip() == "Success! Data written to: entra/config"

    config = table(ok(bao("read", "entra/config")).stdout)
    assert config["tenant_id"] == TENANT
    assert config["client_id"] == CLIENT
    assert config["authority_host"] == tenant.base_url
    assert "client_secret" not in config
    # The CA file was read by the CLI (`@path`) and stored as its PEM text.
    as_json = json.loads(ok(bao("read", "-format=json", "entra/config")).stdout)
    assert as_json["data"]["ca_cert"].strip() == tenant.ca_path.read_text().strip()
    assert SECRET not in json.dumps(as_json)

    run = ok(
        bao("write", "entra/roles/alice", f"user_principal_name={ALICE}", "ttl=1h", "max_ttl=2h")
    )
    assert run.stdout.strip() == "Success! Data written to: entra/roles/alice"
    role = table(ok(bao("read", "entra/roles/alice")).stdout)
    assert role["ttl"] == "1h"
    assert role["max_ttl"] == "2h"
    assert role["user_principal_name"] == ALICE
    assert role["object_id"] == tenant.users()[ALICE]["id"]
    assert role["mode"] == "rotate"

    ok(bao("write", "entra/roles/bob", f"user_principal_name={BOB}"))
    listed = ok(bao("list", "entra/roles")).stdout
    assert listed.splitlines() == ["Keys", "----", "alice", "bob"]
    assert json.loads(ok(bao("list", "-format=json", "entra/roles")).stdout) == ["alice", "bob"]


def test_delete_role(cli_ready: Bao) -> None:
    bao = cli_ready
    run = ok(bao("delete", "entra/roles/carol"))
    assert run.stdout.strip() == "Success! Data deleted (if it existed) at: entra/roles/carol"
    gone = bao("read", "entra/roles/carol")
    assert gone.code == 2
    assert gone.stderr.strip() == "No value found at entra/roles/carol"
    # Deleting what does not exist succeeds, as in Vault.
    again = ok(bao("delete", "entra/roles/carol"))
    assert again.stdout.strip() == "Success! Data deleted (if it existed) at: entra/roles/carol"
    assert ok(bao("list", "entra/roles")).stdout.splitlines()[2:] == ["alice", "bob"]
    api_error(bao("read", "entra/creds/carol"), 400, "unknown role: carol")


# -- credentials --------------------------------------------------------------------------------


def test_read_creds_table_and_the_password_signs_in(cli_ready: Bao, tenant: Tenant) -> None:
    before = tenant.password_changes(ALICE)
    run = ok(cli_ready("read", "entra/creds/alice"))
    rows = table(run.stdout)
    assert list(rows) == [
        "lease_id",
        "lease_duration",
        "lease_renewable",
        "object_id",
        "password",
        "user_principal_name",
    ]
    assert LEASE_ID.match(rows["lease_id"]) and rows["lease_id"].startswith("entra/creds/alice/")
    assert rows["lease_duration"] == "1h"
    assert rows["lease_renewable"] == "true"
    assert rows["user_principal_name"] == ALICE
    assert rows["object_id"] == tenant.users()[ALICE]["id"]
    assert len(rows["password"]) == 32
    assert tenant.password_changes(ALICE) == before + 1
    assert tenant.signs_in(ALICE, rows["password"])
    assert not tenant.signs_in(ALICE, rows["password"] + "x")


def test_read_creds_json_and_field(cli_ready: Bao, tenant: Tenant) -> None:
    body = read_creds_json(cli_ready)
    # The CLI prints the envelope without wrap_info and auth, in this order (capture 02).
    assert list(body) == [
        "request_id",
        "lease_id",
        "lease_duration",
        "renewable",
        "data",
        "warnings",
    ]
    assert LEASE_ID.match(body["lease_id"])
    assert body["lease_duration"] == 3600
    assert body["renewable"] is True
    assert body["warnings"] is None
    assert sorted(body["data"]) == ["object_id", "password", "user_principal_name"]
    first = body["data"]["password"]
    assert tenant.signs_in(ALICE, first)

    run = ok(cli_ready("read", "-field=password", "entra/creds/alice"))
    second = run.stdout.rstrip("\n")
    assert "\n" not in second and " " not in second and len(second) == 32
    assert second != first
    assert tenant.signs_in(ALICE, second)
    # Rotate mode: the second read replaced the first password and ended its lease.
    assert not tenant.signs_in(ALICE, first)
    keys = ok(cli_ready("list", "sys/leases/lookup/entra/creds/alice/")).stdout.splitlines()
    assert len(keys) == 3 and body["lease_id"].rsplit("/", 1)[1] not in keys


# -- lease lookup and renew -------------------------------------------------------------------


def test_lease_lookup_table(cli_ready: Bao) -> None:
    lease_id = read_creds_json(cli_ready)["lease_id"]
    rows = table(ok(cli_ready("lease", "lookup", lease_id)).stdout)
    assert list(rows) == [
        "expire_time",
        "id",
        "issue_time",
        "last_renewal",
        "path",
        "renewable",
        "ttl",
    ]
    assert rows["id"] == lease_id
    assert rows["path"] == "entra/creds/alice"
    assert rows["last_renewal"] == "<nil>"
    assert rows["renewable"] == "true"
    assert re.fullmatch(r"(59m\d+s|1h)", rows["ttl"]), rows["ttl"]
    issued, expires = parse_time(rows["issue_time"]), parse_time(rows["expire_time"])
    assert expires - issued == pytest.approx(3600, abs=1)


def test_lease_renew_default_and_increment(cli_ready: Bao) -> None:
    lease_id = read_creds_json(cli_ready)["lease_id"]

    rows = table(ok(cli_ready("lease", "renew", lease_id)).stdout)
    assert rows == {"lease_id": lease_id, "lease_duration": "1h", "lease_renewable": "true"}

    run = ok(cli_ready("lease", "renew", "-increment=30m", lease_id))
    assert table(run.stdout)["lease_duration"] == "30m"
    assert run.stderr == ""

    looked = table(ok(cli_ready("lease", "lookup", lease_id)).stdout)
    assert looked["last_renewal"] != "<nil>"
    renewed_at = parse_time(looked["last_renewal"])
    assert parse_time(looked["expire_time"]) - renewed_at == pytest.approx(1800, abs=1)

    as_json = json.loads(ok(cli_ready("lease", "renew", "-format=json", lease_id)).stdout)
    assert as_json["lease_id"] == lease_id
    assert as_json["lease_duration"] == 3600
    assert as_json["data"] is None


def test_lease_renew_past_max_ttl_is_capped_with_openbao_warning(cli_ready: Bao) -> None:
    lease_id = read_creds_json(cli_ready)["lease_id"]
    run = ok(cli_ready("lease", "renew", "-increment=5h", lease_id))
    assert "WARNING! The following warnings were returned from OpenBao:" in run.stderr
    flat = run.flat_stderr
    match = re.search(
        r'\* TTL of "5h" exceeded the effective max_ttl of "([0-9hms]+)"; '
        r"TTL value is capped accordingly",
        flat,
    )
    assert match is not None, run.stderr
    cap = match.group(1)
    assert re.fullmatch(r"(2h|1h59m\d+s)", cap), cap
    rows = table(run.stdout)
    # The table shows the capped TTL, the same value the warning names.
    assert rows["lease_duration"] == cap
    assert rows["lease_renewable"] == "true"


# -- listing and revoking -----------------------------------------------------------------------


def test_list_then_revoke_sync_kills_the_password(cli_ready: Bao, tenant: Tenant) -> None:
    body = read_creds_json(cli_ready)
    lease_id, password = body["lease_id"], body["data"]["password"]
    suffix = lease_id.rsplit("/", 1)[1]
    listed = ok(cli_ready("list", "sys/leases/lookup/entra/creds/alice/")).stdout
    assert listed.splitlines() == ["Keys", "----", suffix]
    top = ok(cli_ready("list", "sys/leases/lookup/entra/")).stdout
    assert top.splitlines() == ["Keys", "----", "creds/"]

    before = tenant.password_changes(ALICE)
    run = ok(cli_ready("lease", "revoke", "-sync", lease_id))
    assert run.stdout.strip() == f"Success! Revoked lease: {lease_id}"
    # Synchronous: the reset is done when the command returns.
    assert tenant.password_changes(ALICE) == before + 1
    assert not tenant.signs_in(ALICE, password)
    api_error(cli_ready("lease", "lookup", lease_id), 400, "invalid lease")
    gone = cli_ready("list", "sys/leases/lookup/entra/creds/alice/")
    assert gone.code == 2
    assert gone.stderr.strip() == "No value found at sys/leases/lookup/entra/creds/alice"
    # Revoking it again still succeeds (Vault: unknown ids are fine).
    again = ok(cli_ready("lease", "revoke", "-sync", lease_id))
    assert again.stdout.strip() == f"Success! Revoked lease: {lease_id}"


def test_revoke_async_then_the_password_dies(cli_ready: Bao, tenant: Tenant) -> None:
    body = read_creds_json(cli_ready)
    run = ok(cli_ready("lease", "revoke", body["lease_id"]))
    assert run.stdout.strip() == "All revocation operations queued successfully!"
    tenant.wait_signs_in_fails(ALICE, body["data"]["password"], timeout=10)
    api_error(cli_ready("lease", "lookup", body["lease_id"]), 400, "invalid lease")


def test_revoke_prefix_sync(cli_ready: Bao, tenant: Tenant) -> None:
    bob = read_creds_json(cli_ready, "bob")
    alice = read_creds_json(cli_ready, "alice")
    run = ok(cli_ready("lease", "revoke", "-prefix", "-sync", "entra/creds/bob"))
    assert run.stdout.strip() == "Success! Revoked any leases with prefix: entra/creds/bob"
    assert not tenant.signs_in(BOB, bob["data"]["password"])
    listed = cli_ready("list", "sys/leases/lookup/entra/creds/bob/")
    assert listed.code == 2
    assert "No value found at sys/leases/lookup/entra/creds/bob" in listed.stderr
    # Only bob's prefix was revoked.
    assert tenant.signs_in(ALICE, alice["data"]["password"])
    assert ok(cli_ready("list", "sys/leases/lookup/entra/creds/")).stdout.splitlines()[2:] == [
        "alice/"
    ]


# -- errors ---------------------------------------------------------------------------------------


def test_errors_print_like_openbao(cli_ready: Bao) -> None:
    api_error(cli_ready("read", "entra/creds/nope"), 400, "unknown role: nope")
    api_error(cli_ready("lease", "renew", "entra/creds/alice/nope"), 400, "lease not found")
    api_error(cli_ready("lease", "lookup", "entra/creds/alice/nope"), 400, "invalid lease")
    api_error(cli_ready("lease", "renew", ""), 400, "lease_id must be specified")
    wrong = cli_ready("read", "entra/creds/alice", token="s.NotARealTokenAtAll12345")
    api_error(wrong, 403, "permission denied")
    api_error(cli_ready("token", "lookup", token=None), 403, "permission denied")
    api_error(cli_ready("list", "entra/roles", token="wrong"), 403, "permission denied")
    missing = cli_ready("read", "entra/roles/nope")
    assert missing.code == 2 and missing.stderr.strip() == "No value found at entra/roles/nope"
    usage = cli_ready("write", "entra/creds/alice")
    assert usage.code == 1 and "Must supply data or use -force" in usage.stderr


# -- sys and token commands ---------------------------------------------------------------------


def test_status_token_lookup_and_secrets_list(bao: Bao) -> None:
    status = table(ok(bao("status", token=None)).stdout)
    assert status["Initialized"] == "true"
    assert status["Sealed"] == "false"

    token = table(ok(bao("token", "lookup")).stdout)
    assert token["id"] == "root"
    assert token["policies"] == "[root]"
    assert token["expire_time"] == "<nil>"

    mounts = ok(bao("secrets", "list")).stdout.splitlines()
    assert mounts[0].split() == ["Path", "Type", "Accessor", "Description"]
    paths = {line.split()[0]: line.split()[1] for line in mounts[2:]}
    assert paths.get("entra/") == "entra"
    as_json = json.loads(ok(bao("secrets", "list", "-format=json")).stdout)
    assert as_json["entra/"]["type"] == "entra"


def test_login_and_token_create_renew_revoke(bao: Bao) -> None:
    login = ok(bao("login", "root", token=None)).stdout
    assert "Success! You are now authenticated." in login
    assert table(login.split("\n\n", 1)[1])["token_policies"] == '["root"]'
    # The CLI's token helper now holds the token: a command without BAO_TOKEN works.
    assert table(ok(bao("token", "lookup", token=None)).stdout)["policies"] == "[root]"

    created = json.loads(
        ok(bao("token", "create", "-policy=app", "-ttl=1h", "-format=json")).stdout
    )
    child = created["auth"]["client_token"]
    assert created["auth"]["policies"] == ["app", "default"]
    assert created["auth"]["lease_duration"] == 3600
    renewed = table(ok(bao("token", "renew", "-increment=30m", child)).stdout)
    assert renewed["token_duration"] == "30m" and renewed["token_renewable"] == "true"
    assert ok(bao("token", "revoke", child)).stdout.strip() == (
        "Success! Revoked token (if it existed)"
    )
    api_error(bao("token", "lookup", child), 403, "bad token")  # Vault: 403 for a revoked token


def test_read_yaml_and_path_help(cli_ready: Bao) -> None:
    bao = cli_ready
    text = ok(bao("read", "-format=yaml", "entra/creds/alice")).stdout
    assert re.search(r"^lease_id: entra/creds/alice/[A-Za-z0-9]{24}$", text, re.M)
    assert re.search(r"^  user_principal_name: alice@example\.test$", text, re.M)
    assert "lease_duration: 3600" in text
    helped = ok(bao("path-help", "entra/creds/alice")).stdout
    assert helped.startswith("Request:        creds/alice\n")
    assert "    name (string)" in helped
    assert "## DESCRIPTION" in helped


def test_lease_revoke_force_prefix(cli_ready: Bao, tenant: Tenant) -> None:
    bao = cli_ready
    lease = json.loads(ok(bao("read", "-format=json", "entra/creds/bob")).stdout)["lease_id"]
    run = ok(bao("lease", "revoke", "-force", "-prefix", "entra/creds/bob"))
    assert "Success! Force revoked any leases with prefix: entra/creds/bob" in run.stdout
    assert bao("lease", "lookup", lease).code == 2


def test_delete_config_then_creds_say_to_configure(cli_ready: Bao) -> None:
    bao = cli_ready
    run = ok(bao("delete", "entra/config"))
    assert run.stdout.strip() == "Success! Data deleted (if it existed) at: entra/config"
    assert bao("read", "entra/config").code == 2
    api_error(
        bao("read", "entra/creds/alice"),
        400,
        "the Entra connection is not configured: write entra/config first "
        "(tenant_id, client_id, client_secret)",
    )


@pytest.mark.parametrize("mount", ["entra/", "entra", "sys/", "auth/token/"])
def test_path_help_of_a_mount_root_lists_its_paths(bao: Bao, mount: str) -> None:
    """Vault's root help: the engine's description, then every route and its synopsis."""
    helped = ok(bao("path-help", mount)).stdout
    assert helped.lstrip().startswith("## DESCRIPTION")
    assert "## PATHS" in helped
    assert "The following paths are supported by this backend." in helped
    if mount.startswith("entra"):
        assert "Entra ID secrets engine" in helped
        assert re.search(r"^    \^creds/\(\?P<name>.+\)\$\n        \S", helped, re.M)
        assert re.search(r"^    \^config\$$", helped, re.M)
    routes = re.findall(r"^    (\^.+\$)$", helped, re.M)
    assert routes == sorted(routes) and len(routes) >= 6
