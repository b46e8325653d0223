"""The `entra_password` secret type: revoke scrambles the password, renew re-reads the role."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

from mount.sdk import SecretRequest, SecretTTL, SecretType, VaultError
from plugin.graph import NOT_FOUND, GraphError
from plugin.models import CredsInternal, RecordError
from plugin.passwords import DEFAULT_LENGTH
from plugin.path_creds import SECRET_TYPE, set_random_password

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = ["creds_renew", "creds_revoke", "secret_type"]

logger = logging.getLogger(__name__)


def secret_type(b: EntraBackend) -> SecretType:
    return SecretType(SECRET_TYPE, revoke=partial(creds_revoke, b), renew=partial(creds_renew, b))


def _internal(req: SecretRequest) -> CredsInternal:
    try:
        return CredsInternal.from_storage(req.internal)
    except RecordError as exc:
        raise VaultError(f"lease {req.lease_path or ''} cannot be revoked: {exc}") from None


async def creds_revoke(b: EntraBackend, req: SecretRequest) -> None:
    """Reset the user's password to a random value that is thrown away.

    A user Graph no longer knows has no password left to kill: that counts as revoked.
    Any other failure raises, so the mount retries and finally parks the lease.
    """
    internal = _internal(req)
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


async def creds_renew(b: EntraBackend, req: SecretRequest) -> SecretTTL | None:
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
