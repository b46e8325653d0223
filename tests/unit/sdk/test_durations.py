"""Vault's duration syntax and formatting (mount/sdk/durations.py)."""

from datetime import timedelta

import pytest

from mount.sdk.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (3600, 3600),
        ("3600", 3600),
        ("30s", 30),
        ("1m", 60),
        ("90m", 5400),
        ("3h", 10800),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("7d", 7 * 86400),
        ("300ms", 0),
        (None, 0),
        ("", 0),
        (0, 0),
    ],
)
def test_parse_accepts_vault_forms(value, seconds):
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("bogus", 'time: invalid duration "bogus"'),
        (-5, "cannot provide negative value '-5'"),
        ("-5", "cannot provide negative value '-5'"),
        ("-1h", "cannot provide negative value '-1h'"),
        (1.5, 'time: missing unit in duration "1.5"'),
        (True, "could not parse duration from input"),
        ([1], "could not parse duration from input"),
        ("5x", 'time: unknown unit "x" in duration "5x"'),
    ],
)
def test_parse_rejects_with_go_texts(value, message):
    with pytest.raises(DurationError) as info:
        parse_duration(value)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (4, "4s"),
        (58, "58s"),
        (120, "2m"),
        (3600, "1h"),
        (7200, "2h"),
        (7261, "2h1m1s"),
        (3605, "1h0m5s"),
        (610, "10m10s"),
        (36000, "10h"),
    ],
)
def test_format_drops_trailing_zero_units(seconds, text):
    assert format_duration(seconds) == text
    assert format_duration(timedelta(seconds=seconds)) == text
