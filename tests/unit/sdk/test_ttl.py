"""Vault's CalculateTTL as the host applies it: defaults, caps, periods and their warnings."""

from __future__ import annotations

import pytest

from mount.sdk.errors import InvalidRequestError
from mount.sdk.ttl import TTLLimits, calculate_ttl, effective_max_ttl

HOUR = 3600
START = 1_000_000.0


def test_no_ttl_asked_is_the_mounts_default() -> None:
    limits = TTLLimits(mount_default=HOUR, mount_max=10 * HOUR)
    assert calculate_ttl(limits, start=START, now=START) == (HOUR, [])


def test_the_issuers_ttl_wins_over_the_default_and_an_increment_over_both() -> None:
    limits = TTLLimits(mount_default=HOUR, mount_max=10 * HOUR, ttl=2 * HOUR)
    assert calculate_ttl(limits, start=START, now=START)[0] == 2 * HOUR
    assert calculate_ttl(limits, start=START, now=START, increment=300)[0] == 300


def test_a_ttl_past_the_max_is_cut_to_what_is_left_with_vaults_warning() -> None:
    limits = TTLLimits(mount_default=HOUR, mount_max=2 * HOUR)
    ttl, warnings = calculate_ttl(limits, start=START, now=START + HOUR + 0.9, increment=5 * HOUR)
    assert ttl == HOUR  # whole seconds: the fraction is dropped from start and now alike
    assert warnings == [
        'TTL of "5h" exceeded the effective max_ttl of "1h"; TTL value is capped accordingly'
    ]


def test_the_tightest_cap_that_is_set_bounds_the_ttl() -> None:
    limits = TTLLimits(
        mount_default=HOUR, mount_max=10 * HOUR, max_ttl=3 * HOUR, explicit_max_ttl=0
    )
    assert effective_max_ttl(limits) == 3 * HOUR
    assert effective_max_ttl(TTLLimits(mount_default=HOUR, mount_max=0)) == 0
    explicit = TTLLimits(mount_default=HOUR, mount_max=10 * HOUR, explicit_max_ttl=HOUR // 2)
    assert calculate_ttl(explicit, start=START, now=START)[0] == HOUR // 2


def test_a_period_is_capped_by_the_max_but_renews_past_it_until_the_explicit_max() -> None:
    periodic = TTLLimits(mount_default=HOUR, mount_max=HOUR, period=5 * HOUR)
    ttl, warnings = calculate_ttl(periodic, start=START, now=START + 100 * HOUR)
    assert ttl == HOUR
    assert warnings == [
        'period of "5h" exceeded the effective max_ttl of "1h"; period value is capped accordingly'
    ]
    bounded = TTLLimits(mount_default=HOUR, mount_max=0, period=HOUR, explicit_max_ttl=HOUR + 60)
    assert calculate_ttl(bounded, start=START, now=START + HOUR)[0] == 60


def test_nothing_left_refuses_the_renewal() -> None:
    limits = TTLLimits(mount_default=HOUR, mount_max=HOUR)
    with pytest.raises(InvalidRequestError, match="past the max TTL, cannot renew"):
        calculate_ttl(limits, start=START, now=START + HOUR)
