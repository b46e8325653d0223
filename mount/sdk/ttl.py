"""Vault's CalculateTTL: what a token or a lease may live, at creation and at each renewal."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mount.sdk.durations import format_duration
from mount.sdk.errors import InvalidRequestError

__all__ = ["TTLLimits", "calculate_ttl", "effective_max_ttl"]


@dataclass(frozen=True, slots=True)
class TTLLimits:
    """What bounds a token's TTL, in seconds; 0 means "not set" for all but the mount's.

    `ttl` is what the issuer asks when no increment is given (a role's token_ttl, a
    token's own TTL); `max_ttl` the issuer's cap (a role's token_max_ttl); `mount_default`
    and `mount_max` the issuing mount's lease TTLs (its own, else the system's).
    """

    mount_default: int
    mount_max: int
    ttl: int = 0
    max_ttl: int = 0
    period: int = 0
    explicit_max_ttl: int = 0


def calculate_ttl(
    limits: TTLLimits, *, start: float, now: float, increment: int = 0
) -> tuple[int, list[str]]:
    """The TTL from `now`, with Vault's warnings when a cap cut it (sdk/framework/lease.go).

    `start` is when the token or lease began: a max TTL counts from it. Raises 400 "past the
    max TTL, cannot renew" once nothing is left.
    """
    # Whole seconds, as Vault: TTLs have no finer precision.
    start, now = math.floor(start), math.floor(now)
    max_ttl = effective_max_ttl(limits)
    warnings: list[str] = []
    end: int | None
    if limits.period > 0:
        ttl = limits.period
        if 0 < max_ttl < ttl:
            warnings.append(
                f'period of "{format_duration(ttl)}" exceeded the effective max_ttl of '
                f'"{format_duration(max_ttl)}"; period value is capped accordingly'
            )
            ttl = max_ttl
        # A periodic token renews without end, unless an explicit max ends it.
        end = start + limits.explicit_max_ttl if limits.explicit_max_ttl > 0 else None
    else:
        ttl = increment or limits.ttl or limits.mount_default
        end = start + max_ttl if max_ttl > 0 else None
    if end is not None:
        left = end - now
        if left <= 0:
            raise InvalidRequestError("past the max TTL, cannot renew")
        if ttl > left:
            warnings.append(
                f'TTL of "{format_duration(ttl)}" exceeded the effective max_ttl of '
                f'"{format_duration(left)}"; TTL value is capped accordingly'
            )
            ttl = left
    return ttl, warnings


def effective_max_ttl(limits: TTLLimits) -> int:
    """The tightest of the mount's max and the issuer's caps that are set; 0: no cap."""
    caps = [cap for cap in (limits.mount_max, limits.max_ttl, limits.explicit_max_ttl) if cap > 0]
    return min(caps, default=0)
