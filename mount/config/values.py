"""Reading one setting of a config block: its type, its range, and "did you mean"."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from mount.config.hcl import label as unquote_label
from mount.config.model import DEFAULT_LEASE_TTL, ConfigError
from mount.sdk.durations import DurationError, parse_duration

__all__ = [
    "count",
    "did_you_mean",
    "flag",
    "duration",
    "scalar",
    "seconds",
    "string",
    "warn_unused",
]


_INT = re.compile(r"[+-]?\d+")


def warn_unused(body: Mapping[str, Any], known: set[str], where: str, warnings: list[str]) -> None:
    # Vault's listener and storage stanzas have many options (and more each release);
    # those we do not implement are reported, not refused.
    for key in sorted(set(body) - known):
        warnings.append(f"{where}: {key} is ignored{did_you_mean(key, known)}")


def did_you_mean(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


def scalar(value: Any, where: str) -> Any:
    """A literal value: quotes left by the parser removed, `${literal}` unwrapped."""
    if not isinstance(value, str):
        return value
    text = unquote_label(value)
    if text.startswith("${") and text.endswith("}") and text.count("${") == 1:
        inner = unquote_label(text[2:-1].strip())
        if inner in ("true", "false"):
            return inner == "true"
        if _INT.fullmatch(inner):
            return int(inner)
        if inner != text[2:-1].strip():  # it was a quoted string: "${"x"}"
            return inner
        raise ConfigError(f"{where}: expressions are not supported; write a literal value")
    if "${" in text:
        raise ConfigError(f"{where}: interpolation (${{...}}) is not supported")
    return text


def string(body: Mapping[str, Any], key: str, where: str) -> str | None:
    if key not in body or body[key] is None:
        return None
    value = scalar(body[key], where)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{where}: must be a string")
    return str(value)


def flag(body: Mapping[str, Any], key: str, where: str) -> bool:
    if key not in body or body[key] is None:
        return False
    value = scalar(body[key], f"{where}: {key}")
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ConfigError(f'{where}: {key} must be true or false, not "{value}"')


def count(document: Mapping[str, Any], key: str, default: int) -> int:
    if key not in document or document[key] is None:
        return default
    value = scalar(document[key], key)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: must be a whole number, 0 or more (0 turns the limit off)")
    return value


_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def seconds(body: Mapping[str, Any], key: str, where: str, default: float) -> float:
    """A listener timeout: Vault's duration syntax, fractions kept ("500ms"); 0 or
    absent is the default, as in Vault."""
    if key not in body or body[key] is None:
        return default
    value = scalar(body[key], f"{where}: {key}")
    try:
        seconds = parse_duration(value).total_seconds()  # Vault's errors for bad input
    except DurationError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None
    text = value.strip() if isinstance(value, str) else ""
    parts = _GO_PART.findall(text)
    if parts and "".join(number + unit for number, unit in parts) == text:
        seconds = sum(float(number) * _GO_UNITS[unit] for number, unit in parts)
    return seconds or default


def duration(
    document: Mapping[str, Any], key: str, default: timedelta = DEFAULT_LEASE_TTL
) -> timedelta:
    if key not in document or document[key] is None:
        return default
    value = scalar(document[key], key)
    try:
        parsed = parse_duration(value)
    except DurationError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    # As in Vault, zero means "use the default".
    return parsed or default
