"""A requested `ttl` on creds (issue 13, point 6): used when within the max, capped with
Vault's warning when above it (framework.CalculateTTL), never silently, never refused."""

from __future__ import annotations

import json

from tests.e2e.conftest import ALICE, Bao, Setup, Tenant

CAPPED = (
    'TTL of "{asked}" exceeded the effective max_ttl of "{cap}"; TTL value is capped accordingly'
)


def read(bao: Bao, *args: str) -> dict[str, object]:
    run = bao("read", "-format=json", "entra/creds/alice", *args)
    assert run.code == 0, run.stderr
    body: dict[str, object] = json.loads(run.stdout)
    return body


def test_a_requested_ttl_above_the_max_is_capped_with_vaults_warning(
    bao: Bao, configured: Setup, tenant: Tenant
) -> None:
    configured.role("alice", ttl="1h", max_ttl="2h")
    capped = read(bao, "ttl=5h")
    assert capped["lease_duration"] == 7200
    assert capped["warnings"] == [CAPPED.format(asked="5h", cap="2h")]
    data = capped["data"]
    assert isinstance(data, dict) and tenant.signs_in(ALICE, str(data["password"]))
    lease_id = str(capped["lease_id"])
    looked = configured.lookup(lease_id).json()["data"]
    assert 7190 <= looked["ttl"] <= 7200

    # Within the max: the requested TTL, no warning; absent: the role's.
    assert read(bao, "ttl=90m")["lease_duration"] == 5400
    plain = read(bao)
    assert plain["lease_duration"] == 3600 and plain["warnings"] is None


def test_a_role_ttl_above_the_servers_max_is_capped_with_the_warning(
    bao: Bao, configured: Setup
) -> None:
    """The role's max_ttl (here none) is bounded by the server's max_lease_ttl (768h)."""
    configured.role("alice", ttl="1h")
    capped = read(bao, "ttl=1000h")
    assert capped["lease_duration"] == 768 * 3600
    assert capped["warnings"] == [CAPPED.format(asked="1000h", cap="768h")]
