"""The `login` path (a JWT in, a token's description out) and what both logins share."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.auth.jwt import claims as claim_rules
from mount.auth.jwt.models import Config, Role
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

if TYPE_CHECKING:
    from mount.auth.jwt.backend import JWTBackend

__all__ = ["login_spec", "paths", "renew", "role_for"]

logger = logging.getLogger(__name__)


def paths(b: JWTBackend) -> list[Path]:
    return [
        Path(
            "login",
            {Operation.UPDATE: partial(login, b)},
            {
                "role": Field(
                    FieldType.STRING, "The role to log in with; default the default_role."
                ),
                "jwt": Field(
                    FieldType.STRING, "The signed JWT (an Entra ID token).", sensitive=True
                ),
            },
            help_synopsis="Log in with a JWT; returns a token.",
            help_description=LOGIN_HELP,
        )
    ]


async def config_or_error(b: JWTBackend, req: Request) -> Config:
    config = await b.load_config(req.storage)
    if config is None:
        raise InvalidRequestError("could not load configuration: write config first")
    return config


async def role_for(b: JWTBackend, req: Request, config: Config, name: str) -> Role:
    name = name.strip() or config.default_role
    if not name:
        raise InvalidRequestError("missing role")
    role = await b.load_role(req.storage, name)
    if role is None:
        raise InvalidRequestError(f'role "{name}" could not be found')
    return role


def login_spec(role: Role, claims: dict[str, Any]) -> LoginSpec:
    """The token a login with these (checked) claims earns."""
    try:
        user = claim_rules.user_name(role, claims)
    except claim_rules.ClaimError as exc:
        raise InvalidRequestError(str(exc)) from None
    metadata = claim_rules.login_metadata(role, claims)
    return LoginSpec(
        policies=role.token_policies,
        metadata=metadata,
        ttl=timedelta(seconds=role.token_ttl),
        max_ttl=timedelta(seconds=role.token_max_ttl),
        explicit_max_ttl=timedelta(seconds=role.token_explicit_max_ttl),
        period=timedelta(seconds=role.token_period),
        num_uses=role.token_num_uses,
        bound_cidrs=role.token_bound_cidrs,
        no_default_policy=role.token_no_default_policy,
        internal={
            "role": role.name,
            "user": user,
            "groups": claim_rules.groups(role, claims),
        },
    )


def check(role: Role, claims: dict[str, Any], *, issuer: str, client_id: str = "") -> None:
    try:
        claim_rules.check_claims(role, claims, issuer=issuer, client_id=client_id)
    except claim_rules.ClaimError as exc:
        raise InvalidRequestError(str(exc)) from None


async def login(b: JWTBackend, req: Request, d: FieldData) -> Response:
    config = await config_or_error(b, req)
    role = await role_for(b, req, config, str(d.get("role") or ""))
    if role.role_type != "jwt":
        raise InvalidRequestError("role with oidc role_type is not allowed")
    token = str(d.get("jwt") or "").strip()
    if not token:
        raise InvalidRequestError("missing token")
    claims = await b.verified_claims(config, token, role)
    check(role, claims, issuer=b.issuer(config))
    spec = login_spec(role, claims)
    logger.info("jwt login role=%s mount=%s", role.name, req.mount_point)
    return Response(login=spec)


async def renew(b: JWTBackend, req: Request, auth: LoginSpec) -> LoginSpec:
    """The role must still exist with the policies it granted; its current TTLs apply."""
    name = str(auth.internal.get("role") or auth.metadata.get("role") or "")
    role = await b.load_role(req.storage, name)
    if role is None:
        raise InvalidRequestError(f'role "{name}" no longer exists')
    if set(role.token_policies) - {"default"} != set(auth.policies) - {"default"}:
        raise InvalidRequestError("policies have changed, not renewing")
    return replace(
        auth,
        ttl=timedelta(seconds=role.token_ttl),
        max_ttl=timedelta(seconds=role.token_max_ttl),
        period=timedelta(seconds=role.token_period),
    )


LOGIN_HELP = """\
The JWT's signature is checked against the provider's keys (discovery, jwks_url or
jwt_validation_pubkeys), then exp, nbf and iat with the role's leeways, the issuer, the
audience (bound_audiences), bound_subject and bound_claims. The token carries the role's
token_policies and metadata {"role": <role>} plus the role's claim_mappings."""
