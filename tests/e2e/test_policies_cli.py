"""Policies and token trees with the real `bao` CLI, as an operator would use them."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import ALICE, BOB, Bao, Run, Setup, Tenant
from tests.waiting import wait_until_sync

READER = """
# Issue alice's credentials and renew their leases.
path "entra/creds/alice" {
  capabilities = ["read"]
}
path "sys/leases/renew" {
  capabilities = ["update"]
}
"""


def ok(run: Run) -> Run:
    assert run.code == 0, f"exit {run.code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


def denied(run: Run) -> None:
    assert run.code == 2, run
    assert "Code: 403. Errors:" in run.stderr and "* permission denied" in run.stderr


def new_token(bao: Bao, *args: str, token: str = "root") -> dict:
    created = bao("token", "create", "-format=json", *args, token=token)
    return json.loads(ok(created).stdout)["auth"]


def read_json(bao: Bao, *args: str, token: str = "root") -> dict:
    return json.loads(ok(bao(*args[:1], "-format=json", *args[1:], token=token)).stdout)


def test_policy_write_read_list_delete(bao: Bao, tmp_path) -> None:
    (tmp_path / "reader.hcl").write_text(READER)
    assert ok(bao("policy", "write", "entra-reader", str(tmp_path / "reader.hcl"))).stdout == (
        "Success! Uploaded policy: entra-reader\n"
    )
    assert ok(bao("policy", "read", "entra-reader")).stdout.strip() == READER.strip()
    assert ok(bao("policy", "list")).stdout.split() == ["default", "entra-reader", "root"]
    assert "auth/token/lookup-self" in ok(bao("policy", "read", "default")).stdout
    ok(bao("policy", "delete", "entra-reader"))
    assert ok(bao("policy", "list")).stdout.split() == ["default", "root"]

    (tmp_path / "bad.hcl").write_text('path "entra/*/x" { capabilities = ["reed"] }')
    refused = bao("policy", "write", "bad", str(tmp_path / "bad.hcl"))
    assert refused.code == 2 and "Code: 400" in refused.stderr
    assert 'invalid capability "reed"' in refused.stderr and "may only end a path" in (
        refused.stderr
    )
    assert "root" in bao("policy", "delete", "root").stderr


def test_a_token_gets_exactly_its_policies(
    bao: Bao, configured: Setup, tenant: Tenant, tmp_path
) -> None:
    configured.role("alice", ttl="1h")
    configured.role("bob", ttl="1h")
    (tmp_path / "reader.hcl").write_text(READER)
    ok(bao("policy", "write", "entra-reader", str(tmp_path / "reader.hcl")))
    auth = new_token(bao, "-policy=entra-reader", "-ttl=10m")
    assert auth["policies"] == ["default", "entra-reader"]
    token = auth["client_token"]

    assert ok(bao("token", "capabilities", "entra/creds/alice", token=token)).stdout == "read\n"
    assert ok(bao("token", "capabilities", "entra/creds/bob", token=token)).stdout == "deny\n"
    assert ok(bao("token", "capabilities", token, "sys/leases/renew")).stdout == "update\n"

    secret = json.loads(ok(bao("read", "-format=json", "entra/creds/alice", token=token)).stdout)
    assert tenant.signs_in(ALICE, secret["data"]["password"])
    ok(bao("lease", "renew", secret["lease_id"], token=token))
    denied(bao("read", "entra/creds/bob", token=token))
    denied(bao("read", "entra/config", token=token))
    denied(bao("lease", "revoke", "-prefix", "entra/creds/alice", token=token))  # needs sudo
    denied(bao("token", "create", "-policy=root", token=token))
    # The default policy: the token looks itself up and renews itself.
    assert json.loads(ok(bao("token", "lookup", "-format=json", token=token)).stdout)
    ok(bao("token", "renew", token=token))


def test_revoking_a_parent_revokes_its_children_and_all_their_leases(
    bao: Bao, configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="1h")
    configured.role("bob", ttl="1h")
    parent = new_token(bao, "-policy=root")["client_token"]
    child = new_token(bao, "-policy=root", token=parent)["client_token"]
    orphan = new_token(bao, "-orphan", "-policy=root", token=parent)["client_token"]
    child_secret = read_json(bao, "read", "entra/creds/alice", token=child)
    orphan_secret = read_json(bao, "read", "entra/creds/bob", token=orphan)

    ok(bao("token", "revoke", parent))
    denied(bao("token", "lookup", token=child))
    tenant.wait_signs_in_fails(ALICE, child_secret["data"]["password"], timeout=10)
    wait_until_sync(lambda: configured.lease_keys("entra/creds/alice") == [], timeout=10)
    # The orphan and its lease live on.
    ok(bao("token", "lookup", token=orphan))
    assert tenant.signs_in(BOB, orphan_secret["data"]["password"])


def test_revoke_orphan_keeps_the_children(bao: Bao) -> None:
    parent = new_token(bao, "-policy=root")["client_token"]
    child = new_token(bao, "-policy=root", token=parent)
    ok(bao("token", "revoke", "-mode=orphan", parent))
    looked = json.loads(
        ok(bao("token", "lookup", "-format=json", token=child["client_token"])).stdout
    )
    assert looked["data"]["orphan"] is True
    accessor = child["accessor"]
    assert (
        json.loads(ok(bao("token", "lookup", "-format=json", "-accessor", accessor)).stdout)[
            "data"
        ]["accessor"]
        == accessor
    )
    ok(bao("token", "revoke", "-accessor", accessor))
    denied(bao("token", "lookup", token=child["client_token"]))


def test_an_expiring_token_takes_its_leases_with_it(
    bao: Bao, configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="1h")
    token = new_token(bao, "-policy=root", "-ttl=2s", "-renewable=false")["client_token"]
    secret = json.loads(ok(bao("read", "-format=json", "entra/creds/alice", token=token)).stdout)
    issued = time.monotonic()
    assert tenant.signs_in(ALICE, secret["data"]["password"])
    # Nobody uses the token again: the server revokes it at its expire time, and the lease.
    tenant.wait_signs_in_fails(ALICE, secret["data"]["password"], timeout=10)
    assert time.monotonic() - issued < 6
    wait_until_sync(lambda: configured.lease_keys("entra/creds/alice") == [], timeout=10)


def test_a_token_with_num_uses_ends_after_its_last_use(bao: Bao) -> None:
    token = new_token(bao, "-policy=root", "-use-limit=2")["client_token"]
    ok(bao("token", "lookup", token=token))
    ok(bao("token", "lookup", token=token))
    denied(bao("token", "lookup", token=token))


def test_token_ttls_explicit_max_and_periodic_renewal(bao: Bao) -> None:
    capped = new_token(bao, "-policy=default", "-ttl=2s", "-explicit-max-ttl=4s")
    assert capped["lease_duration"] == 2
    renewed = json.loads(
        ok(bao("token", "renew", "-format=json", "-increment=1h", capped["client_token"])).stdout
    )["auth"]
    assert 0 < renewed["lease_duration"] <= 4  # capped at what is left of the explicit max
    # Past the explicit max the token is gone, renewed or not.
    wait_until_sync(
        lambda: bao("token", "lookup", token=capped["client_token"]).code != 0, timeout=10
    )

    periodic = new_token(bao, "-policy=default", "-period=3s")
    assert periodic["lease_duration"] == 3 and periodic["renewable"] is True
    for _ in range(2):
        again = json.loads(
            ok(
                bao("token", "renew", "-format=json", "-increment=1h", periodic["client_token"])
            ).stdout
        )["auth"]
        assert again["lease_duration"] == 3  # its period, whatever the increment


def test_the_mount_preflight_answers_only_tokens_that_reach_the_mount(
    bao: Bao, configured: Setup, tmp_path
) -> None:
    configured.role("alice", ttl="1h")
    (tmp_path / "reader.hcl").write_text(READER)
    ok(bao("policy", "write", "entra-reader", str(tmp_path / "reader.hcl")))
    reader = new_token(bao, "-policy=entra-reader")["client_token"]
    nobody = new_token(bao, "-policy=default")["client_token"]
    api = configured.api
    seen = api.request("GET", "sys/internal/ui/mounts/entra/creds/alice", token=reader)
    assert seen.status_code == 200 and seen.json()["data"]["path"] == "entra/"
    hidden = api.request("GET", "sys/internal/ui/mounts/entra/creds/alice", token=nobody)
    assert hidden.status_code == 403
    assert "preflight capability check returned 403" in hidden.json()["errors"][0]
