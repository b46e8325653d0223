"""Vault's lease-count quota: most leases alive at once per role (request path) and mount."""

from __future__ import annotations

from mount.leases.settings import LeaseSettings
from mount.leases.table import LeaseTable
from mount.sdk.errors import RateLimitedError

__all__ = ["check_lease_counts"]


def check_lease_counts(
    table: LeaseTable, settings: LeaseSettings, mount: str, request_path: str, now: float
) -> None:
    """Refuse a new lease past the role's or the mount's limit (0: no limit)."""
    for limit, count, name, scope in (
        (
            settings.max_leases_per_role,
            table.path_count(request_path),
            "max_leases_per_role",
            request_path,
        ),
        (
            settings.max_leases_per_mount,
            table.mount_count(mount),
            "max_leases_per_mount",
            mount,
        ),
    ):
        if limit > 0 and count >= limit:
            raise RateLimitedError(
                f"lease count quota exceeded: {scope} already has {count} active leases "
                f"and {name} is {limit}; revoke leases or wait for them to expire",
                retry_after=_next_expiry(table, scope, now),
            )


def _next_expiry(table: LeaseTable, scope: str, now: float) -> float:
    """Seconds until the earliest lease under `scope` ends (a hint for Retry-After)."""
    prefix = scope if scope.endswith("/") else scope + "/"
    ends = table.expire_times_under(prefix)
    return max(1.0, min(ends, default=now + 60) - now)
