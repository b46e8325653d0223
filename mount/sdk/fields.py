"""A path's parameters: their types, Vault's conversion rules and error texts."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from mount.sdk.durations import DurationError, parse_duration
from mount.sdk.errors import REDACTED, InvalidRequestError

__all__ = ["Field", "FieldData", "FieldType", "name_pattern"]


def name_pattern(name: str) -> str:
    """A named group for one path segment of letters, digits, `-`, `.`, `_` and `@`."""
    return rf"(?P<{name}>\w(?:[\w\-.@]*\w)?)"


class FieldType(enum.Enum):
    STRING = "string"
    NAME = "name"
    INT = "int"
    BOOL = "bool"
    DURATION = "duration (sec)"
    STRING_LIST = "slice"
    MAP = "map"
    # Passed through unconverted, for fields whose handler checks the JSON type itself.
    RAW = "raw"

    @property
    def openapi(self) -> dict[str, Any]:
        schemas: dict[FieldType, dict[str, Any]] = {
            FieldType.STRING: {"type": "string"},
            FieldType.NAME: {"type": "string"},
            FieldType.INT: {"type": "integer"},
            FieldType.BOOL: {"type": "boolean"},
            FieldType.DURATION: {"type": "integer", "format": "seconds"},
            FieldType.STRING_LIST: {"type": "array", "items": {"type": "string"}},
            FieldType.MAP: {"type": "object"},
            FieldType.RAW: {},
        }
        return schemas[self]


@dataclass(frozen=True, slots=True)
class Field:
    """One parameter of a path. `sensitive` values are never echoed or logged."""

    type: FieldType
    description: str
    default: Any = None
    sensitive: bool = False
    allowed: tuple[str, ...] | None = None


class _ConversionError(ValueError):
    pass


# A bad value is quoted in its error up to this many characters: a megabyte of nested
# JSON must not come back in full.
_SHOWN_MAX = 80


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + "..."


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}


_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _convert(ftype: FieldType, value: Any) -> Any:
    """Coerce a wire value to the field's type (strings are accepted for every type)."""
    if ftype is FieldType.RAW:
        return value
    if ftype in (FieldType.STRING, FieldType.NAME):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise _ConversionError(f"'{_shown(value)}' expected type 'string', got unconvertible type")
    if ftype is FieldType.INT:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value.strip())
        raise _ConversionError(f"cannot parse '{_shown(value)}' as int")
    if ftype is FieldType.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return value != 0
        if isinstance(value, str):
            if value in _TRUE:
                return True
            if value in _FALSE or value == "":
                return False
        raise _ConversionError("'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax")
    if ftype is FieldType.DURATION:
        try:
            return parse_duration(value)
        except DurationError as exc:
            raise _ConversionError(str(exc)) from None
    if ftype is FieldType.STRING_LIST:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            return [str(v) for v in value]
        raise _ConversionError(f"'{_shown(value)}' expected a list of strings")
    if ftype is FieldType.MAP:
        if isinstance(value, dict):
            return value
        raise _ConversionError("expected a map")
    raise _ConversionError(f"unknown field type {ftype}")  # pragma: no cover


class FieldData:
    """The request's fields, parsed and validated against a path's schema up front."""

    def __init__(self, schema: Mapping[str, Field], raw: Mapping[str, Any]) -> None:
        self.schema = schema
        self.raw = dict(raw)
        self._values: dict[str, Any] = {}
        problems: list[str] = []
        for name, spec in schema.items():
            if name not in raw or raw[name] is None:
                continue
            try:
                value = _convert(spec.type, raw[name])
            except (ValueError, OverflowError) as exc:  # incl. _ConversionError
                # A sensitive value is never quoted, not even cut short.
                reason = f"expected type '{spec.type.value}'" if spec.sensitive else str(exc)
                problems.append(f'error converting input for field "{name}": {reason}')
                continue
            if spec.allowed is not None and value not in spec.allowed:
                choices = ", ".join(f'"{a}"' for a in spec.allowed)
                shown = REDACTED if spec.sensitive else _shown(value)
                problems.append(f'invalid value "{shown}" for field "{name}"; use one of {choices}')
                continue
            self._values[name] = value
        if problems:
            raise InvalidRequestError(errors=[f"Field validation failed: {p}" for p in problems])
        self.unknown = sorted(k for k in raw if k not in schema)

    def provided(self, name: str) -> bool:
        """True when the caller sent a value for `name`."""
        return name in self._values

    def get(self, name: str) -> Any:
        """The parsed value, else the field's default (a copy for lists and maps)."""
        if name in self._values:
            return self._values[name]
        spec = self.schema.get(name)
        if spec is None:
            raise KeyError(f"field {name!r} is not in the path's schema")
        default = spec.default
        if spec.type is FieldType.DURATION and default is not None:
            return default if isinstance(default, timedelta) else parse_duration(default)
        if isinstance(default, list | dict):
            return type(default)(default)
        return default

    def require(self, *names: str) -> None:
        """Raise one 400 naming every missing required field."""
        missing = [n for n in names if not self.provided(n) or self._values[n] in ("", [])]
        if missing:
            raise InvalidRequestError(errors=[f"{n} is required" for n in missing])
