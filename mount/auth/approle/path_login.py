"""The `login` path: a role id (and secret id) in, a token's description out."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING

from mount.auth.approle.models import Role, SecretId, secret_id_hmac
from mount.sdk import (
    Field,
    FieldData,
    FieldType,
    InvalidRequestError,
    LoginSpec,
    Operation,
    Path,
    Request,
    Response,
)
from mount.sdk.cidrs import address_in, subset_of

if TYPE_CHECKING:
    from mount.auth.approle.backend import AppRoleBackend

__all__ = ["INVALID_CREDENTIALS", "paths"]

logger = logging.getLogger(__name__)

# One answer for an unknown role id, an unknown, used-up or expired secret id: a caller
# learns nothing about which part was wrong.
INVALID_CREDENTIALS = "invalid role or secret ID"


def paths(b: AppRoleBackend) -> list[Path]:
    return [
        Path(
            "login",
            {Operation.UPDATE: partial(login, b)},
            {
                "role_id": Field(FieldType.STRING, "The role id of the role to log in with."),
                "secret_id": Field(
                    FieldType.STRING,
                    "A secret id of the role; required when the role has bind_secret_id.",
                    sensitive=True,
                ),
            },
            help_synopsis="Log in with a role id and secret id; returns a token.",
            help_description=LOGIN_HELP_DESC,
        )
    ]


async def login(b: AppRoleBackend, req: Request, d: FieldData) -> Response:
    role_id = str(d.get("role_id") or "").strip()
    if not role_id:
        raise InvalidRequestError("missing role_id")
    role = await b.role_by_role_id(req.storage, role_id)
    if role is None:
        raise InvalidRequestError(INVALID_CREDENTIALS)
    remote = req.remote_address
    # Addresses are checked before a secret id is touched, so that a refused attempt
    # never spends one of its uses.
    if role.secret_id_bound_cidrs and not address_in(role.secret_id_bound_cidrs, remote):
        raise InvalidRequestError(
            f'source address "{remote}" unauthorized by CIDR restrictions on the role'
        )
    metadata: dict[str, str] = {}
    token_cidrs = role.token_bound_cidrs
    if role.bind_secret_id:
        secret_id = str(d.get("secret_id") or "").strip()
        if not secret_id:
            raise InvalidRequestError("missing secret_id")
        entry = await _spend_secret_id(b, req, role, secret_id)
        metadata.update(entry.metadata)
        token_cidrs = entry.token_bound_cidrs or token_cidrs
        logger.info(
            "approle login role=%s secret_id_accessor=%s mount=%s",
            role.name,
            entry.accessor,
            req.mount_point,
        )
    else:
        logger.info("approle login role=%s mount=%s", role.name, req.mount_point)
    metadata["role_name"] = role.name
    return Response(
        login=LoginSpec(
            policies=role.token_policies,
            metadata=metadata,
            ttl=timedelta(seconds=role.token_ttl),
            max_ttl=timedelta(seconds=role.token_max_ttl),
            explicit_max_ttl=timedelta(seconds=role.token_explicit_max_ttl),
            period=timedelta(seconds=role.token_period),
            num_uses=role.token_num_uses,
            bound_cidrs=token_cidrs,
            no_default_policy=role.token_no_default_policy,
            internal={"role_name": role.name},
        )
    )


async def renew(b: AppRoleBackend, req: Request, auth: LoginSpec) -> LoginSpec:
    """Vault's pathLoginRenew: the role must still exist, with the policies it granted.

    The renewal then gets the role's current token TTLs (a changed token_ttl applies).
    """
    # Tokens issued before the role name was kept internally carry it in their metadata.
    role_name = str(auth.internal.get("role_name") or auth.metadata.get("role_name") or "")
    if not role_name:
        raise InvalidRequestError("failed to fetch role_name during renewal")
    role = await b.load_role(req.storage, role_name)
    if role is None:
        raise InvalidRequestError(f'role "{role_name}" does not exist during renewal')
    # Vault's EquivalentPolicies: the same set, `default` aside.
    if set(role.token_policies) - {"default"} != set(auth.policies) - {"default"}:
        raise InvalidRequestError("policies have changed, not renewing")
    return replace(
        auth,
        ttl=timedelta(seconds=role.token_ttl),
        max_ttl=timedelta(seconds=role.token_max_ttl),
        period=timedelta(seconds=role.token_period),
    )


async def _spend_secret_id(b: AppRoleBackend, req: Request, role: Role, secret_id: str) -> SecretId:
    """Check a secret id and count one use, atomically: the last use deletes it."""
    digest = secret_id_hmac(role.hmac_key, secret_id)
    remote = req.remote_address
    async with b.secret_lock(digest):
        entry = await b.live_secret_id(req.storage, role.name, digest)
        if entry is None:
            raise InvalidRequestError(INVALID_CREDENTIALS)
        if entry.cidr_list:
            if role.secret_id_bound_cidrs and not subset_of(
                entry.cidr_list, role.secret_id_bound_cidrs
            ):
                # The role's CIDRs were narrowed after this secret id was issued.
                raise InvalidRequestError(
                    "the CIDR blocks of the secret ID are no longer within the role's "
                    "secret_id_bound_cidrs; issue a new secret ID"
                )
            if not address_in(entry.cidr_list, remote):
                raise InvalidRequestError(
                    f'source address "{remote}" unauthorized by CIDR restrictions on the secret ID'
                )
        if entry.num_uses == 1:
            await b.delete_secret_id(req.storage, role.name, digest)
        elif entry.num_uses > 1:
            await b.write_secret_id(
                req.storage,
                digest,
                replace(entry, num_uses=entry.num_uses - 1, last_updated_time=time.time()),
            )
    return entry


LOGIN_HELP_DESC = """\
The role id is always required; the secret id too when the role has bind_secret_id
(the default). A secret id with a use limit loses one use per login and is deleted with
its last; an expired one is refused and deleted. The token carries the role's
token_policies plus `default`, and metadata {"role_name": <role>} merged over the secret
id's metadata."""
