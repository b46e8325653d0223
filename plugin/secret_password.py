"""The `entra_password` secret type: issue sets a new random password on the role's user,
revoke scrambles it again, renew re-reads the role."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from mount.sdk import (
    Issued,
    Response,
    SecretRequest,
    SecretSpec,
    SecretTTL,
    SecretType,
    Storage,
    VaultError,
)
from plugin.graph import BAD_REQUEST, NOT_FOUND, GraphClient, GraphError
from plugin.models import Config, CredsInternal, RecordError, Role
from plugin.passwords import DEFAULT_LENGTH, alias_of, generate_password
from plugin.privileged import check_at_issue

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = [
    "SECRET_TYPE",
    "password_creds",
    "password_renew",
    "password_revoke",
    "secret_type",
    "set_random_password",
]

logger = logging.getLogger(__name__)

SECRET_TYPE = "entra_password"
# Per user: the id of the password set last (the current one), for revoke to compare.
CURRENT_PREFIX = "current-password/"


def secret_type(b: EntraBackend) -> SecretType:
    return SecretType(
        SECRET_TYPE, revoke=partial(password_revoke, b), renew=partial(password_renew, b)
    )


def _current_key(object_id: str) -> str:
    return f"{CURRENT_PREFIX}{object_id}"


def password_creds(
    b: EntraBackend,
    role: Role,
    config: Config,
    storage: Storage,
    requested: timedelta | None = None,
) -> Response:
    """The lease spec and the issue step for a new password of the role's user."""
    ttl, max_ttl, warnings = b.issue_ttls(role, requested)
    internal = CredsInternal(
        role=role.name, object_id=role.object_id, user_principal_name=role.user_principal_name
    )

    async def issue() -> Issued:
        # Runs only after the mount has persisted the lease: no password without one.
        graph = await b.graph(config)
        # Checked again here, not only at role write (see check_at_issue).
        await check_at_issue(graph, role, credential="password")
        password = await set_random_password(
            b, graph, role.object_id, role.user_principal_name, role.password_length
        )
        # Marked current only once set: a reset that failed leaves the older password
        # current, so its lease's revoke still kills it.
        password_id = secrets.token_hex(8)
        await storage.put(_current_key(role.object_id), password_id)
        logger.info(
            "password issued role=%s object_id=%s upn=%s",
            role.name,
            role.object_id,
            role.user_principal_name,
        )
        return Issued(
            {
                "user_principal_name": role.user_principal_name,
                "object_id": role.object_id,
                "password": password,
            },
            replace(internal, password_id=password_id).to_storage(),
        )

    return Response(
        secret=SecretSpec(
            type=SECRET_TYPE,
            internal=internal.to_storage(),
            ttl=ttl,
            max_ttl=max_ttl,
            holder_key=f"user/{role.object_id}",
        ),
        issue=issue,
        warnings=warnings,
    )


async def set_random_password(
    b: EntraBackend, graph: GraphClient, object_id: str, upn: str, length: int
) -> str:
    """Reset a user's password to a fresh random one and return it.

    A password Entra refuses as too weak (Request_BadRequest) is replaced by a second
    draw once, within the same deadline; resets of one user are serialized.
    """
    deadline = graph.deadline_from_now()

    async def attempt() -> str:
        password = generate_password(length, alias=alias_of(upn))
        await graph.set_password(object_id, password, subject=upn or object_id, deadline=deadline)
        return password

    async with b.user_lock(object_id):
        try:
            return await attempt()
        except GraphError as exc:
            if exc.code != BAD_REQUEST or exc.may_have_applied:
                raise
            logger.warning(
                "password refused, drawing another object_id=%s request_id=%s",
                object_id,
                exc.request_id,
            )
        return await attempt()


def _internal(req: SecretRequest) -> CredsInternal:
    try:
        return CredsInternal.from_storage(req.internal)
    except RecordError as exc:
        raise VaultError(f"lease {req.lease_path or ''} cannot be revoked: {exc}") from None


async def password_revoke(b: EntraBackend, req: SecretRequest) -> None:
    """Reset the user's password to a random value that is thrown away.

    A user Graph no longer knows has no password left to kill: that counts as revoked.
    Any other failure raises, so the mount retries and finally parks the lease.
    """
    internal = _internal(req)
    if await _superseded(req.storage, internal):
        # A newer password of this user is current (rotate mode): this lease's password
        # died when it was set, and a reset now would kill the newer one. Our own host
        # ends such leases without a revoke; OpenBao revokes them at their expiry.
        logger.info(
            "password revoke: superseded, nothing to reset role=%s object_id=%s upn=%s",
            internal.role,
            internal.object_id,
            internal.user_principal_name,
        )
        return
    config = await b.require_config(req.storage, unavailable=True)
    role = await b.load_role(req.storage, internal.role)
    # The role may be gone or rebound to another user; the lease's own user is the one.
    length = role.password_length if role is not None else DEFAULT_LENGTH
    graph = await b.graph(config)
    try:
        await set_random_password(
            b, graph, internal.object_id, internal.user_principal_name, length
        )
    except GraphError as exc:
        if exc.code == NOT_FOUND or (exc.graph_status == 404 and not exc.code):
            logger.info(
                "password revoke: user gone, nothing to revoke object_id=%s upn=%s",
                internal.object_id,
                internal.user_principal_name,
            )
            return
        raise
    logger.info(
        "password revoked role=%s object_id=%s upn=%s",
        internal.role,
        internal.object_id,
        internal.user_principal_name,
    )


async def _superseded(storage: Storage, internal: CredsInternal) -> bool:
    """Whether a newer password of the lease's user was set after this lease's own."""
    if not internal.password_id:
        return False  # pending, or from before the marker: reset to be safe
    current = await storage.get(_current_key(internal.object_id))
    return isinstance(current, str) and current != internal.password_id


async def password_renew(b: EntraBackend, req: SecretRequest) -> SecretTTL | None:
    """The role's current TTLs, or None (keep the lease's own) when the role is gone.


    Renewal never calls Graph: an Entra outage must not fail renewals, since clients
    such as Vault Agent answer a failed renewal by reading a new credential at once.
    """
    internal = _internal(req)
    role = await b.load_role(req.storage, internal.role)
    if role is None or role.object_id != internal.object_id:
        return None  # deleted, or rebound to another user since this lease was issued
    ttl, max_ttl = b.lease_ttls(role)
    return SecretTTL(ttl=ttl, max_ttl=max_ttl)
