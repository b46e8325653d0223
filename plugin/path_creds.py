"""The `creds/<name>` path: the role's credential under a lease, issued by its type's module."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from mount.sdk import (
    Field,
    FieldData,
    FieldType,
    InvalidRequestError,
    Operation,
    Path,
    Request,
    Response,
    name_pattern,
)
from plugin.models import CredentialType
from plugin.secret_client_secret import client_secret_creds
from plugin.secret_password import password_creds
from plugin.secret_tap import tap_creds

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = ["creds_read", "paths"]

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
        response = tap_creds(b, role, config, requested)
    elif role.credential_type is CredentialType.CLIENT_SECRET:
        response = client_secret_creds(b, role, config, requested)
    else:
        response = password_creds(b, role, config, req.storage, requested)
    return b.issue_guard.guard(response, role, req.storage)


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
