"""The `creds/<name>` path: a fresh password for the role's user, under a lease."""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from mount.sdk import (
    Field,
    FieldData,
    FieldType,
    InvalidRequestError,
    Issued,
    Operation,
    Path,
    Request,
    Response,
    SecretSpec,
    name_pattern,
)
from plugin.graph import BAD_REQUEST, GraphClient, GraphError
from plugin.models import CredentialType, CredsInternal, Mode
from plugin.passwords import alias_of, generate_password
from plugin.privileged import check_at_issue
from plugin.secret_client_secret import client_secret_creds
from plugin.secret_tap import tap_creds

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = ["SECRET_TYPE", "creds_read", "paths", "set_random_password"]

logger = logging.getLogger(__name__)

SECRET_TYPE = "entra_password"

FIELDS = {
    "name": Field(
        FieldType.NAME,
        "Name of the role whose credential to issue: a new password or Temporary Access "
        "Pass for its user, or a new client secret of its application.",
    ),
    "ttl": Field(
        FieldType.DURATION,
        "The lease TTL to ask for; absent or 0 uses the role's ttl. Above the effective "
        "max TTL (the role's max_ttl within the server's max_lease_ttl) it is capped, "
        "with a warning.",
    ),
}


def paths(b: EntraBackend) -> list[Path]:
    return [
        Path(
            f"creds/{name_pattern('name')}",
            operations={Operation.READ: partial(creds_read, b)},
            fields=FIELDS,
            help_synopsis=CREDS_HELP_SYN,
            help_description=CREDS_HELP_DESC,
        )
    ]


async def creds_read(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    name: str = d.get("name")
    role = await b.load_role(req.storage, name)
    if role is None:
        raise InvalidRequestError(f"unknown role: {name}")
    config = await b.require_config(req.storage)
    requested: timedelta | None = d.get("ttl")
    if role.credential_type is CredentialType.TEMPORARY_ACCESS_PASS:
        return tap_creds(b, role, config, requested)
    if role.credential_type is CredentialType.CLIENT_SECRET:
        return client_secret_creds(b, role, config, requested)
    ttl, max_ttl, warnings = b.issue_ttls(role, requested)
    internal = CredsInternal(
        role=name, object_id=role.object_id, user_principal_name=role.user_principal_name
    )

    async def issue() -> Issued:
        # Runs only after the mount has persisted the lease: no password without one.
        graph = await b.graph(config)
        # Checked again here, not only at role write (see check_at_issue).
        await check_at_issue(graph, role, credential="password")
        password = await set_random_password(
            b, graph, role.object_id, role.user_principal_name, role.password_length
        )
        logger.info(
            "password issued role=%s object_id=%s upn=%s",
            name,
            role.object_id,
            role.user_principal_name,
        )
        return Issued(
            {
                "user_principal_name": role.user_principal_name,
                "object_id": role.object_id,
                "password": password,
            }
        )

    return Response(
        secret=SecretSpec(
            type=SECRET_TYPE,
            internal=internal.to_storage(),
            ttl=ttl,
            max_ttl=max_ttl,
            holder_key=f"user/{role.object_id}",
            exclusive=role.mode is Mode.EXCLUSIVE,
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


CREDS_HELP_SYN = "Issue the role's credential (password, pass or client secret) under a lease."
CREDS_HELP_DESC = """\
Each read sets a new random password on the role's user through Microsoft Graph and
returns user_principal_name, object_id and password under a lease. Revoking the lease,
or its expiry, resets the password again to a random value nobody is told. In rotate
mode a read ends the user's earlier leases (their password no longer works); in
exclusive mode a read is refused while another lease of the user is active. A new
password may take a few seconds to be accepted by every Entra sign-in endpoint.

Unless the role has allow_privileged_user, each read first checks through Graph that the
user holds no privileged Entra directory role, and is refused (400) if it does.

A temporary_access_pass role returns user_principal_name, object_id,
temporary_access_pass, start_date_time, lifetime_in_minutes and is_usable_once. The pass
lives as long as the lease's TTL (10 minutes to 30 days); the lease is not renewable, and
revoking it deletes the pass. A client_secret role returns client_id, client_secret,
key_id, tenant_id and end_date_time: a new secret of the role's application that Entra
ends at the lease's max TTL; revoking the lease removes exactly that key.
"""
