"""The token a login earns: Vault's TTL calculation and policy rules (mount/tokens/login.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mount.sdk import InvalidRequestError, LoginSpec
from mount.tokens.login import login_ttl, token_policies

HOUR = 3600


def spec(**fields) -> LoginSpec:
    seconds = {k: timedelta(seconds=v) for k, v in fields.items() if k != "policies"}
    return LoginSpec(policies=tuple(fields.get("policies", ())), **seconds)


def test_the_role_ttl_is_used_and_zero_means_the_mount_default():
    assert login_ttl(spec(ttl=60), mount_default=HOUR, mount_max=2 * HOUR).ttl == 60
    assert login_ttl(spec(), mount_default=HOUR, mount_max=2 * HOUR).ttl == HOUR


def test_the_smallest_max_wins_and_caps_the_ttl_with_vaults_warning():
    found = login_ttl(spec(ttl=HOUR, max_ttl=600), mount_default=60, mount_max=2 * HOUR)
    assert (found.ttl, found.max_ttl) == (600, 600)
    assert found.warnings == (
        'TTL of "1h" exceeded the effective max_ttl of "10m"; TTL value is capped accordingly',
    )
    explicit = login_ttl(spec(max_ttl=600, explicit_max_ttl=300), mount_default=60, mount_max=HOUR)
    assert explicit.max_ttl == 300
    # A role max above the mount's does not raise it.
    assert login_ttl(spec(max_ttl=9 * HOUR), mount_default=60, mount_max=HOUR).max_ttl == HOUR


def test_a_period_sets_the_ttl_within_the_max():
    assert login_ttl(spec(ttl=5, period=120), mount_default=60, mount_max=HOUR).ttl == 120
    capped = login_ttl(spec(period=2 * HOUR), mount_default=60, mount_max=HOUR)
    assert capped.ttl == HOUR and capped.warnings[0].startswith('period of "2h" exceeded')


def test_policies_get_default_are_sorted_and_root_is_refused():
    assert token_policies(spec(policies=("b", "a", " a "))) == ["a", "b", "default"]
    no_default = LoginSpec(policies=("a",), no_default_policy=True)
    assert token_policies(no_default) == ["a"]
    with pytest.raises(InvalidRequestError, match="auth methods cannot create root tokens"):
        token_policies(spec(policies=("root",)))
