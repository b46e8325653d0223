"""The lease-wide knobs: TTL bounds, the revocation retry schedule, quotas and limits."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LeaseSettings"]


@dataclass(slots=True)
class LeaseSettings:
    """Lease-wide knobs.

    A failed revocation is retried after base x 2^(n-1) seconds (n: failed attempts), at
    most `revoke_backoff_max`, jittered down by up to half, and never before a Retry-After
    the upstream asked for (up to that maximum). A failure no quick retry cures (a lost
    permission) is retried every `revoke_slow_interval`, with the same jitter. Past
    `max_revoke_attempts` the lease is listed as irrevocable; the retries go on.
    """

    default_lease_ttl: int = 768 * 3600  # Vault's 32 days
    max_lease_ttl: int = 768 * 3600
    revoke_backoff_base: float = 1.0
    revoke_backoff_max: float = 60.0
    revoke_slow_interval: float = 600.0
    max_revoke_attempts: int = 6
    force_revoke_timeout: float = 10.0
    # Handed to each engine mount (BackendConfig.config), which enforces it: at most this
    # many credential issues per role per interval; 0: no limit.
    role_issue_limit: int = 0
    role_issue_interval: float = 60.0
    # Most leases alive at once per role (request path) and per mount; 0: no limit.
    max_leases_per_role: int = 0
    max_leases_per_mount: int = 0
