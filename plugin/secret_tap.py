"""Temporary Access Pass credentials: issue under a lease, revoke by deleting the pass.

A pass cannot be extended inside Entra, so its lease is not renewable: the lease's TTL is
the pass's lifetime, and Entra ends the pass at that lifetime even if the broker is gone.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.sdk import Issued, Response, SecretRequest, SecretSpec, SecretType, VaultError
from plugin.graph import GraphError
from plugin.models import Config, RecordError, Role, TapInternal
from plugin.privileged import check_at_issue

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = ["SECRET_TYPE", "TAP_MAX", "TAP_MIN", "secret_type", "tap_creds", "tap_revoke"]

logger = logging.getLogger(__name__)

SECRET_TYPE = "entra_temporary_access_pass"
# Entra's bounds for a pass's lifetime.
TAP_MIN = timedelta(minutes=10)
TAP_MAX = timedelta(days=30)


def secret_type(b: EntraBackend) -> SecretType:
    # No renew callback: the mount answers a renewal with Vault's "lease is not renewable".
    return SecretType(SECRET_TYPE, revoke=partial(tap_revoke, b))


def lifetime_minutes(ttl: timedelta) -> int:
    """The pass lifetime for a lease TTL: whole minutes, within Entra's 10 minutes..30 days."""
    minutes = math.ceil(ttl.total_seconds() / 60)
    return max(int(TAP_MIN.total_seconds() // 60), min(int(TAP_MAX.total_seconds() // 60), minutes))


def tap_creds(
    b: EntraBackend, role: Role, config: Config, requested: timedelta | None = None
) -> Response:
    """The lease spec and the issue step for a Temporary Access Pass of the role's user."""
    ttl, _, warnings = b.issue_ttls(role, requested)
    ttl = min(ttl, TAP_MAX)
    minutes = lifetime_minutes(ttl)
    internal: dict[str, Any] = TapInternal(
        role=role.name,
        object_id=role.object_id,
        user_principal_name=role.user_principal_name,
        tap_id="",
    ).to_storage()

    if ttl < TAP_MIN:
        warnings.append(
            f"Entra's shortest Temporary Access Pass lifetime is 10 minutes: the pass is "
            f"created for 10 minutes and deleted when this {int(ttl.total_seconds())}s "
            "lease ends"
        )
    return Response(
        secret=SecretSpec(
            type=SECRET_TYPE,
            internal=internal,
            ttl=ttl,
            max_ttl=ttl,
            renewable=False,
            # Entra keeps one pass per user: a new one replaces (supersedes) the earlier.
            holder_key=f"tap/{role.object_id}",
        ),
        issue=partial(_create_pass, b, role, config, minutes, internal),
        warnings=warnings,
    )


async def _create_pass(
    b: EntraBackend, role: Role, config: Config, minutes: int, internal: dict[str, Any]
) -> Issued:
    """The issue step: a pass for the role's user, its id kept in the lease's internal."""
    graph = await b.graph(config)
    # A pass signs the user in like a password does: a Global Administrator's pass is
    # as dangerous, so the same check runs before each one is created.
    await check_at_issue(graph, role, credential="Temporary Access Pass")
    async with b.user_lock(role.object_id):
        tap = await graph.create_temporary_access_pass(
            role.object_id,
            lifetime_in_minutes=minutes,
            is_usable_once=role.is_usable_once,
            subject=role.user_principal_name,
        )
    logger.info(
        "temporary access pass issued role=%s object_id=%s upn=%s tap_id=%s minutes=%d",
        role.name,
        role.object_id,
        role.user_principal_name,
        tap.id,
        tap.lifetime_in_minutes,
    )
    data = {
        "user_principal_name": role.user_principal_name,
        "object_id": role.object_id,
        "temporary_access_pass": tap.temporary_access_pass,
        "start_date_time": tap.start_date_time,
        "lifetime_in_minutes": tap.lifetime_in_minutes,
        "is_usable_once": tap.is_usable_once,
    }
    return Issued(data, {**internal, "tap_id": tap.id})


async def tap_revoke(b: EntraBackend, req: SecretRequest) -> None:
    """Delete the pass. One Graph no longer has (expired and gone, replaced) is revoked.

    A lease whose pass id was never stored (the broker stopped while creating it) deletes
    every pass of the user: Entra keeps at most one, and it can only be this lease's.
    """
    try:
        internal = TapInternal.from_storage(req.internal)
    except RecordError as exc:
        raise VaultError(f"lease {req.lease_path or ''} cannot be revoked: {exc}") from None
    config = await b.require_config(req.storage, unavailable=True)
    graph = await b.graph(config)
    ids = (
        [internal.tap_id]
        if internal.tap_id
        else await graph.list_temporary_access_passes(
            internal.object_id, subject=internal.user_principal_name
        )
    )
    for tap_id in ids:
        try:
            async with b.user_lock(internal.object_id):
                await graph.delete_temporary_access_pass(
                    internal.object_id, tap_id, subject=internal.user_principal_name
                )
        except GraphError as exc:
            if exc.graph_status != 404:
                raise
    logger.info(
        "temporary access pass revoked role=%s object_id=%s upn=%s tap_id=%s",
        internal.role,
        internal.object_id,
        internal.user_principal_name,
        internal.tap_id or "unknown",
    )
