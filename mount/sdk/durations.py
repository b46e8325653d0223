"""Vault's duration syntax: parse (`"1h"`, `"90m"`, `3600`, `"7d"`) and format (`"2h1m1s"`)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_COMPONENT = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_INT = re.compile(r"[+-]?\d+")
_DAYS = re.compile(r"(\d+)d")


class DurationError(ValueError):
    """The input is not a duration; the text is Go's, which Vault clients show verbatim."""


def _parse_go(text: str) -> float:
    """Go's time.ParseDuration, in seconds."""
    original = text
    sign = 1.0
    if text[:1] and text[:1] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise DurationError(f'time: invalid duration "{original}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        match = _COMPONENT.match(text, pos)
        if match is None:
            number = re.match(r"(\d+(?:\.\d*)?|\.\d+)", text[pos:])
            if number is not None and pos + number.end() == len(text):
                raise DurationError(f'time: missing unit in duration "{original}"')
            if number is not None:
                unit = re.match(r"[^\d.]+", text[pos + number.end() :])
                raise DurationError(
                    f'time: unknown unit "{unit.group(0) if unit else ""}" in duration "{original}"'
                )
            raise DurationError(f'time: invalid duration "{original}"')
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def parse_duration(value: Any) -> timedelta:
    """Parse a duration as Vault's `TypeDurationSecond` does; whole seconds, never negative.

    None and "" are zero. Integers (and integer strings) are seconds, `"<n>d"` is days,
    anything else is Go duration syntax. JSON floats are read as their text, so `1.5`
    fails with Go's "missing unit" error, as it does in Vault.
    """
    if value is None or value == "":
        seconds = 0.0
    elif isinstance(value, bool):
        raise DurationError("could not parse duration from input")
    elif isinstance(value, int):
        seconds = float(value)
    elif isinstance(value, float):
        return parse_duration(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if _INT.fullmatch(text):
            seconds = float(int(text))
        elif (days := _DAYS.fullmatch(text)) is not None:
            seconds = int(days.group(1)) * 86400.0
        else:
            seconds = _parse_go(text)
    else:
        raise DurationError("could not parse duration from input")
    if seconds < 0:
        shown = value if isinstance(value, int | str) else seconds
        raise DurationError(f"cannot provide negative value '{shown}'")
    if seconds > 10 * 365 * 86400 * 100:
        raise DurationError(f'time: invalid duration "{value}"')
    return timedelta(seconds=int(seconds))


def format_duration(value: timedelta | float) -> str:
    """Format like Vault's warnings: Go's Duration.String with trailing zero units dropped.

    `3600` gives `"1h"`, `7261` gives `"2h1m1s"`, `120` gives `"2m"`, `0` gives `"0s"`.
    """
    total = int(value.total_seconds() if isinstance(value, timedelta) else value)
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        text = f"{hours}h{minutes}m{seconds}s"
    elif minutes:
        text = f"{minutes}m{seconds}s"
    else:
        text = f"{seconds}s"
    while text.endswith(("0s", "0m")) and len(text) > 2 and not text[-3].isdigit():
        text = text[:-2]
    return sign + text
