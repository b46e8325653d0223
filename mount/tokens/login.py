"""Turn a login an auth method accepted into a service token (Vault's LoginCreateToken)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError
from mount.sdk.logical import LoginSpec, Response
from mount.sdk.ttl import TTLLimits, calculate_ttl
from mount.tokens.store import TokenStore

__all__ = ["LoginTTL", "issue_login_token", "login_limits", "login_ttl", "token_policies"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginTTL:
    """A login token's first TTL and its renewal cap, in seconds, with Vault's warnings."""

    ttl: int
    max_ttl: int
    warnings: tuple[str, ...] = ()


def login_limits(spec: LoginSpec, *, mount_default: int, mount_max: int) -> TTLLimits:
    """The bounds of a login token's TTL: the role asks, the mount (or system) caps."""
    return TTLLimits(
        mount_default=mount_default,
        mount_max=mount_max,
        ttl=int(spec.ttl.total_seconds()),
        max_ttl=int(spec.max_ttl.total_seconds()),
        period=int(spec.period.total_seconds()),
        explicit_max_ttl=int(spec.explicit_max_ttl.total_seconds()),
    )


def login_ttl(spec: LoginSpec, *, mount_default: int, mount_max: int) -> LoginTTL:
    """Vault's CalculateTTL at login: the role asks, the mount (or system) max caps.

    `mount_default` and `mount_max` are the auth mount's effective lease TTLs (its own
    setting, else the server's).
    """
    limits = login_limits(spec, mount_default=mount_default, mount_max=mount_max)
    now = time.time()
    ttl, warnings = calculate_ttl(limits, start=now, now=now)
    max_ttl = min(
        (t for t in (limits.max_ttl, limits.explicit_max_ttl) if t > 0), default=mount_max
    )
    return LoginTTL(ttl, min(max_ttl, mount_max), tuple(warnings))


def token_policies(spec: LoginSpec) -> list[str]:
    """The role's policies, deduplicated and sorted, with `default` unless left out."""
    policies = {p.strip() for p in spec.policies if p.strip()}
    if not spec.no_default_policy:
        policies.add("default")
    if "root" in policies:
        raise InvalidRequestError("auth methods cannot create root tokens")
    return sorted(policies)


async def issue_login_token(
    tokens: TokenStore,
    response: Response,
    *,
    mount_path: str,
    request_path: str,
    mount_default: int,
    mount_max: int,
) -> Reply:
    """Mint the token a login earned and answer with Vault's `auth` block."""
    spec = response.login
    assert spec is not None
    policies = token_policies(spec)
    ttl = login_ttl(spec, mount_default=mount_default, mount_max=mount_max)
    # Vault names login tokens after their mount: auth/approle/ gives "approle".
    display_name = mount_path.removeprefix("auth/").strip("/").replace("/", "-")
    token, entry = await tokens.create(
        policies=policies,
        ttl=ttl.ttl,
        explicit_max_ttl=int(spec.explicit_max_ttl.total_seconds()),
        max_ttl=ttl.max_ttl,
        period=int(spec.period.total_seconds()),
        renewable=True,
        display_name=display_name,
        orphan=True,
        num_uses=spec.num_uses,
        meta=dict(spec.metadata),
        path=request_path.rstrip("/"),
        bound_cidrs=spec.bound_cidrs,
        internal=dict(spec.internal) or None,
    )
    logger.info(
        "login token issued mount=%s accessor=%s ttl=%d", mount_path, entry.accessor, ttl.ttl
    )
    return Reply(
        auth=entry.auth_block(token, time.time()),
        warnings=[*response.warnings, *ttl.warnings],
    )
