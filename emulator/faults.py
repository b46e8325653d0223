"""Fault injection: chosen calls fail, slow down or hang, for a count or a share of calls."""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_HOLD_SECONDS", "Fault", "FaultBook", "FaultSpecError"]

DEFAULT_HOLD_SECONDS = 30.0
_KNOWN_FIELDS = frozenset(
    {
        "match",
        "status",
        "retry_after",
        "latency_ms",
        "timeout",
        "drop",
        "apply",
        "hold_seconds",
        "count",
        "fraction",
        "code",
        "message",
    }
)


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message names every bad field."""


@dataclass(slots=True)
class Fault:
    """One active fault. `remaining` None means every matching call until cleared."""

    id: str
    match: re.Pattern[str] | None
    status: int | None
    retry_after: float | None
    latency_ms: int
    timeout: bool
    hold_seconds: float
    count: int | None
    fraction: float | None
    code: str | None
    message: str | None
    remaining: int | None
    # Close the connection at once, unanswered (a reset, not a slow answer).
    drop: bool = False
    # Let the call take effect first, then fail its answer: the caller cannot know.
    apply: bool = False
    hits: int = 0
    seen: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "match": self.match.pattern if self.match is not None else None,
            "status": self.status,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "timeout": self.timeout,
            "drop": self.drop,
            "apply": self.apply,
            "hold_seconds": self.hold_seconds,
            "count": self.count,
            "fraction": self.fraction,
            "code": self.code,
            "message": self.message,
            "remaining": self.remaining,
            "hits": self.hits,
        }

    def retry_after_header(self) -> str | None:
        if self.retry_after is None:
            return None
        value = self.retry_after
        return str(int(value)) if float(value).is_integer() else f"{value:g}"

    def takes_this_call(self) -> bool:
        """For a `fraction` fault: whether this matching call is one of its share.

        Deterministic, so tests can count: with 0.5 every second call fails.
        """
        if self.fraction is None:
            return True
        self.seen += 1
        return math.floor(self.seen * self.fraction) > math.floor((self.seen - 1) * self.fraction)


def _number(body: dict[str, Any], name: str, errors: list[str], *, integer: bool) -> Any:
    value = body.get(name)
    if value is None:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        errors.append(f"{name} must be {'an integer' if integer else 'a number'}")
        return None
    return value


# Each numeric field: whether it is an integer, the rule it must meet, the sentence if not.
_NUMBER_RULES: tuple[tuple[str, bool, Callable[[float], bool], str], ...] = (
    ("status", True, lambda v: 400 <= v <= 599, "status must be between 400 and 599"),
    ("retry_after", False, lambda v: v >= 0, "retry_after must not be negative"),
    ("latency_ms", True, lambda v: v >= 0, "latency_ms must not be negative"),
    ("hold_seconds", False, lambda v: v > 0, "hold_seconds must be positive"),
    ("count", True, lambda v: v >= 1, "count must be at least 1"),
    ("fraction", False, lambda v: 0.0 <= v <= 1.0, "fraction must be between 0.0 and 1.0"),
)


def _compiled_match(body: dict[str, Any], errors: list[str]) -> re.Pattern[str] | None:
    pattern = body.get("match")
    if pattern is None:
        return None
    if not isinstance(pattern, str):
        errors.append("match must be a string (a regular expression)")
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        errors.append(f"match is not a valid regular expression: {exc}")
        return None


def _numbers(body: dict[str, Any], errors: list[str]) -> dict[str, Any]:
    """The numeric fields, each checked against its rule (None when absent or wrong)."""
    numbers: dict[str, Any] = {}
    for name, integer, rule, sentence in _NUMBER_RULES:
        value = _number(body, name, errors, integer=integer)
        if value is not None and not rule(value):
            errors.append(sentence)
        numbers[name] = value
    if numbers["count"] is not None and numbers["fraction"] is not None:
        errors.append("give count or fraction, not both")
    return numbers


def _parse(body: Any, fault_id: str) -> Fault:
    if not isinstance(body, dict):
        raise FaultSpecError("a fault is a JSON object")
    errors: list[str] = []
    unknown = sorted(set(body) - _KNOWN_FIELDS)
    if unknown:
        errors.append(f"unknown fields: {', '.join(unknown)}")
    match = _compiled_match(body, errors)
    n = _numbers(body, errors)
    status, latency_ms, hold, count, fraction = (
        n["status"],
        n["latency_ms"],
        n["hold_seconds"],
        n["count"],
        n["fraction"],
    )
    timeout, drop, apply = (body.get(name, False) for name in ("timeout", "drop", "apply"))
    for name, flag in (("timeout", timeout), ("drop", drop), ("apply", apply)):
        if not isinstance(flag, bool):
            errors.append(f"{name} must be true or false")
    for name in ("code", "message"):
        if body.get(name) is not None and not isinstance(body[name], str):
            errors.append(f"{name} must be a string")
    if status is None and not latency_ms and timeout is not True and drop is not True:
        errors.append("a fault needs status, latency_ms, timeout or drop")
    if apply is True and status is None and timeout is not True and drop is not True:
        errors.append("apply needs status, timeout or drop: the answer it replaces")
    if errors:
        raise FaultSpecError("; ".join(errors))
    return Fault(
        id=fault_id,
        match=match,
        status=status,
        retry_after=n["retry_after"],
        latency_ms=latency_ms or 0,
        timeout=timeout is True,
        drop=drop is True,
        apply=apply is True,
        hold_seconds=float(hold) if hold is not None else DEFAULT_HOLD_SECONDS,
        count=count,
        fraction=float(fraction) if fraction is not None else None,
        code=body.get("code"),
        message=body.get("message"),
        remaining=count,
    )


class FaultBook:
    """The active faults, in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, body: Any) -> Fault:
        """Parse and activate a fault; raises FaultSpecError naming the bad fields."""
        fault = _parse(body, f"fault-{next(self._ids)}")
        self._faults.append(fault)
        return fault

    def active(self) -> list[Fault]:
        return list(self._faults)

    def clear(self) -> None:
        self._faults.clear()

    def remove(self, fault_id: str) -> bool:
        before = len(self._faults)
        self._faults = [f for f in self._faults if f.id != fault_id]
        return len(self._faults) != before

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this call, using up one of its count; None if none."""
        target = f"{method.upper()} {path}"
        for fault in list(self._faults):
            if fault.match is not None and not fault.match.search(target):
                continue
            if not fault.takes_this_call():
                continue
            fault.hits += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
            return fault
        return None
