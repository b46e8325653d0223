"""The lease event log: one line per change to a lease, with the fields each carries."""

from __future__ import annotations

import logging

from mount.leases.record import Lease
from mount.sdk.errors import VaultError

__all__ = ["lease_logger", "log_lease_event", "safe_error"]

# The name operators filter on (docs/operations.md): every lease line of every module of
# this package comes from it, as it did when they were one module.
lease_logger = logging.getLogger("mount.leases.manager")


def log_lease_event(
    level: int, event: str, message: str, lease: Lease, **fields: str | int | float
) -> None:
    """One log line per lease event, with the fields every such line carries.

    Fields go through `extra=`: the JSON format shows them as keys, the standard format
    appends them as key=value (mount/logging_setup.py). Only identifiers and outcomes:
    the lease id, its role and mount, and the accessor (never the token) of its owner.
    """
    lease_logger.log(
        level,
        message,
        extra={
            "event": event,
            "lease_id": lease.lease_id,
            "role": lease.role,
            "mount": lease.mount,
            "accessor": lease.token_accessor,
            **fields,
        },
    )


def safe_error(exc: BaseException) -> str:
    """A loggable reason: our typed errors carry safe messages; others only their type."""
    if isinstance(exc, VaultError):
        return exc.message or type(exc).__name__
    return type(exc).__name__
