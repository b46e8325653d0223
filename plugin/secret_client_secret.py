"""Application client secrets: one new secret per lease (addPassword), revoked by keyId.

The secret's endDateTime is the lease's max TTL, so Entra itself ends it even if the
broker is gone; leases of one role coexist, each with its own key.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.sdk import (
    Issued,
    Response,
    SecretRequest,
    SecretSpec,
    SecretTTL,
    SecretType,
    VaultError,
)
from plugin.graph import GraphError
from plugin.models import ClientSecretInternal, Config, RecordError, Role

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = [
    "PROPAGATION_WARNING",
    "SECRET_TYPE",
    "client_secret_creds",
    "client_secret_renew",
    "client_secret_revoke",
    "secret_type",
]

logger = logging.getLogger(__name__)

SECRET_TYPE = "entra_client_secret"
PROPAGATION_WARNING = (
    "Entra may take a few seconds, rarely a minute or two, to accept a new client secret "
    "everywhere: retry a sign-in refused with AADSTS7000215 (invalid client secret) for up "
    "to two minutes before treating the secret as bad"
)


def secret_type(b: EntraBackend) -> SecretType:
    return SecretType(
        SECRET_TYPE,
        revoke=partial(client_secret_revoke, b),
        renew=partial(client_secret_renew, b),
    )


def _display_name(role: str) -> str:
    # Unique per lease, so a lease whose keyId was never stored still finds its secret.
    return f"entra-broker {role} {secrets.token_hex(8)}"


def client_secret_creds(
    b: EntraBackend, role: Role, config: Config, requested: timedelta | None = None
) -> Response:
    """The lease spec and the issue step for a new client secret of the role's application."""
    ttl, max_ttl, warnings = b.issue_ttls(role, requested)
    marker = _display_name(role.name)
    internal: dict[str, Any] = {
        **ClientSecretInternal(
            role=role.name, application_object_id=role.application_object_id, key_id=""
        ).to_storage(),
        "display_name": marker,
    }

    async def issue() -> Issued:
        graph = await b.graph(config)
        # Entra ends the secret at the lease's latest possible end, renewals included.
        end = datetime.now(UTC) + max_ttl
        created = await graph.add_password(
            role.application_object_id, display_name=marker, end_date_time=end
        )
        logger.info(
            "client secret issued role=%s application_object_id=%s key_id=%s end=%s",
            role.name,
            role.application_object_id,
            created.key_id,
            created.end_date_time,
        )
        data = {
            "client_id": role.client_id,
            "client_secret": created.secret_text,
            "key_id": created.key_id,
            "tenant_id": config.tenant_id,
            "end_date_time": created.end_date_time,
        }
        return Issued(data, {**internal, "key_id": created.key_id})

    return Response(
        secret=SecretSpec(type=SECRET_TYPE, internal=internal, ttl=ttl, max_ttl=max_ttl),
        issue=issue,
        warnings=[*warnings, PROPAGATION_WARNING],
    )


def _internal(req: SecretRequest) -> ClientSecretInternal:
    try:
        return ClientSecretInternal.from_storage(req.internal)
    except RecordError as exc:
        raise VaultError(f"lease {req.lease_path or ''} cannot be revoked: {exc}") from None


async def client_secret_revoke(b: EntraBackend, req: SecretRequest) -> None:
    """removePassword by keyId; a key (or application) Graph no longer has counts as revoked."""
    internal = _internal(req)
    marker = str(req.internal.get("display_name") or "")
    config = await b.require_config(req.storage, unavailable=True)
    graph = await b.graph(config)
    app_id = internal.application_object_id
    async with b.app_lock(app_id):
        try:
            app = await graph.get_application(app_id)
        except GraphError as exc:
            if exc.graph_status == 404:
                logger.info("client secret revoke: application gone app_object_id=%s", app_id)
                return
            raise
        if internal.key_id:
            keys = [k for k, _ in app.passwords if k == internal.key_id.lower()]
        else:
            # Never learnt its keyId (the broker stopped mid-issue): find it by its name.
            keys = [k for k, name in app.passwords if marker and name == marker]
        for key_id in keys:
            await graph.remove_password(app_id, key_id)
    logger.info(
        "client secret revoked role=%s application_object_id=%s key_id=%s removed=%d",
        internal.role,
        app_id,
        internal.key_id or "unknown",
        len(keys),
    )


async def client_secret_renew(b: EntraBackend, req: SecretRequest) -> SecretTTL | None:
    """The role's current TTLs (capped by the lease's max TTL, the secret's endDateTime)."""
    internal = _internal(req)
    role = await b.load_role(req.storage, internal.role)
    if role is None or role.application_object_id != internal.application_object_id:
        return None
    ttl, max_ttl = b.lease_ttls(role)
    return SecretTTL(ttl=ttl, max_ttl=max_ttl)
