"""Turn a login an auth method accepted into a service token (Vault's LoginCreateToken)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from mount.sdk.durations import format_duration
from mount.sdk.errors import InvalidRequestError
from mount.sdk.logical import LoginSpec, Response
from mount.tokens import TokenStore

__all__ = ["LoginTTL", "issue_login_token", "login_ttl", "token_policies"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LoginTTL:
    """A login token's first TTL and its renewal cap, in seconds, with Vault's warnings."""

    ttl: int
    max_ttl: int
    warnings: tuple[str, ...] = ()


def login_ttl(spec: LoginSpec, *, mount_default: int, mount_max: int) -> LoginTTL:
    """Vault's CalculateTTL at login: the role asks, the mount (or system) max caps.

    `mount_default` and `mount_max` are the auth mount's effective lease TTLs (its own
    setting, else the server's).
    """
    max_ttl = mount_max
    for cap in (int(spec.max_ttl.total_seconds()), int(spec.explicit_max_ttl.total_seconds())):
        if 0 < cap < max_ttl:
            max_ttl = cap
    period = int(spec.period.total_seconds())
    if period > 0:
        if period > max_ttl:
            return LoginTTL(
                max_ttl,
                max_ttl,
                (
                    f'period of "{format_duration(period)}" exceeded the effective max_ttl of '
                    f'"{format_duration(max_ttl)}"; period value is capped accordingly',
                ),
            )
        return LoginTTL(period, max_ttl)
    ttl = int(spec.ttl.total_seconds()) or mount_default
    if ttl > max_ttl:
        return LoginTTL(
            max_ttl,
            max_ttl,
            (
                f'TTL of "{format_duration(ttl)}" exceeded the effective max_ttl of '
                f'"{format_duration(max_ttl)}"; TTL value is capped accordingly',
            ),
        )
    return LoginTTL(ttl, max_ttl)


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
) -> Response:
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
    )
    logger.info(
        "login token issued mount=%s accessor=%s ttl=%d", mount_path, entry.accessor, ttl.ttl
    )
    return Response(
        auth=entry.auth_block(token, time.time()),
        warnings=[*response.warnings, *ttl.warnings],
    )
