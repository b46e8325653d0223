"""The `role/` paths: which tokens a role accepts and the token a login with it earns."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.auth.approle.path_role import FIELDS as APPROLE_FIELDS
from mount.auth.approle.path_role import parse_policies
from mount.auth.jwt.models import ROLE_PREFIX, Role
from mount.sdk import (
    Field,
    FieldData,
    FieldType,
    InvalidRequestError,
    NotFoundError,
    Operation,
    Path,
    Request,
    Response,
    name_pattern,
)
from mount.sdk.cidrs import invalid_blocks, normalize_blocks

if TYPE_CHECKING:
    from mount.auth.jwt.backend import JWTBackend

__all__ = ["paths"]

logger = logging.getLogger(__name__)

# The token_* fields, exactly as AppRole takes them.
_TOKEN_FIELDS = {k: v for k, v in APPROLE_FIELDS.items() if k.startswith("token_")}

FIELDS: dict[str, Field] = {
    "name": Field(FieldType.NAME, "Name of the role; case-insensitive."),
    "role_type": Field(FieldType.STRING, "oidc (browser sign-in, the default) or jwt (login)."),
    "user_claim": Field(
        FieldType.STRING, "The claim naming the user (Entra: oid, sub or preferred_username)."
    ),
    "groups_claim": Field(FieldType.STRING, "The claim listing the user's groups (Entra: groups)."),
    "bound_audiences": Field(FieldType.STRING_LIST, "aud values accepted; required for jwt roles."),
    "bound_subject": Field(FieldType.STRING, "The sub a token must carry."),
    "bound_claims": Field(
        FieldType.MAP,
        "Claims a token must carry: claim → value or list of values (any matches); for "
        'Entra groups {"groups": ["<group object id>", ...]}.',
    ),
    "bound_claims_type": Field(FieldType.STRING, "string (exact, the default) or glob."),
    "claim_mappings": Field(FieldType.MAP, "claim → token metadata key."),
    "allowed_redirect_uris": Field(
        FieldType.STRING_LIST, "redirect_uri values auth_url accepts; required for oidc roles."
    ),
    "oidc_scopes": Field(FieldType.STRING_LIST, "Scopes requested besides openid."),
    "clock_skew_leeway": Field(FieldType.DURATION, "Leeway for iat, in seconds.", default=60),
    "expiration_leeway": Field(FieldType.DURATION, "Leeway for exp, in seconds.", default=150),
    "not_before_leeway": Field(FieldType.DURATION, "Leeway for nbf, in seconds.", default=150),
    "verbose_oidc_logging": Field(
        FieldType.BOOL, "Accepted; claims are never logged here.", default=False
    ),
    "max_age": Field(FieldType.DURATION, "Longest time since the user authenticated.", default=0),
    "user_claim_json_pointer": Field(
        FieldType.BOOL, "Accepted; a claim name starting with / is always a JSON pointer."
    ),
    "policies": Field(FieldType.STRING_LIST, "Deprecated: use token_policies."),
    "ttl": Field(FieldType.DURATION, "Deprecated: use token_ttl."),
    "max_ttl": Field(FieldType.DURATION, "Deprecated: use token_max_ttl."),
    **_TOKEN_FIELDS,
}
_LEGACY = {"policies": "token_policies", "ttl": "token_ttl", "max_ttl": "token_max_ttl"}
ROLE = f"role/{name_pattern('name')}"


def paths(b: JWTBackend) -> list[Path]:
    write = partial(role_write, b)
    return [
        Path(
            "role/?",
            {Operation.LIST: role_list},
            help_synopsis="List the roles.",
            help_description="The names of every role of this mount.",
        ),
        Path(
            ROLE,
            {
                Operation.READ: partial(role_read, b),
                Operation.CREATE: write,
                Operation.UPDATE: write,
                Operation.DELETE: partial(role_delete, b),
            },
            FIELDS,
            existence_check=partial(role_exists, b),
            help_synopsis="Create, read or delete a role.",
            help_description=ROLE_HELP,
        ),
    ]


async def role_exists(b: JWTBackend, req: Request, d: FieldData) -> bool:
    return await b.load_role(req.storage, d.get("name")) is not None


async def role_list(req: Request, d: FieldData) -> Response:
    keys = [k for k in await req.storage.list(ROLE_PREFIX) if not k.endswith("/")]
    if not keys:
        raise NotFoundError()
    return Response(data={"keys": keys})


async def role_read(b: JWTBackend, req: Request, d: FieldData) -> Response:
    role = await b.load_role(req.storage, d.get("name"))
    if role is None:
        raise NotFoundError()
    return Response(data=role.read_data())


async def role_delete(b: JWTBackend, req: Request, d: FieldData) -> None:
    name = str(d.get("name")).lower()
    await req.storage.delete(ROLE_PREFIX + name)
    logger.info("jwt role deleted role=%s mount=%s", name, req.mount_point)


def _value(d: FieldData, name: str) -> Any:
    value = d.get(name)
    return int(value.total_seconds()) if isinstance(value, timedelta) else value


def _string_map(d: FieldData, name: str, problems: list[str]) -> dict[str, Any]:
    raw = d.get(name) or {}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if name == "bound_claims" and isinstance(value, list):
            if not all(isinstance(v, (str, int, bool)) for v in value):
                problems.append(f"bound claim {key!r}: each value must be a string")
            out[str(key)] = [str(v) for v in value]
        elif isinstance(value, (str, int, bool)):
            out[str(key)] = str(value)
        else:
            problems.append(f"{name} {key!r}: the value must be a string")
    return out


async def role_write(b: JWTBackend, req: Request, d: FieldData) -> Response | None:
    name = str(d.get("name")).lower()
    if ".." in name:
        raise InvalidRequestError('role name must not contain ".."')
    problems: list[str] = []
    async with b.lock:
        base = await b.load_role(req.storage, name) or Role(name=name)
        changes: dict[str, Any] = {}
        for legacy, current in _LEGACY.items():
            if d.provided(legacy) and not d.provided(current):
                changes[current] = _value(d, legacy)
        for field_name in FIELDS:
            if field_name in ("name", "user_claim_json_pointer") or field_name in _LEGACY:
                continue
            if field_name not in Role.__dataclass_fields__ or not d.provided(field_name):
                continue
            if field_name in ("bound_claims", "claim_mappings"):
                changes[field_name] = _string_map(d, field_name, problems)
            else:
                changes[field_name] = _value(d, field_name)
        for key in ("token_policies", "allowed_redirect_uris", "bound_audiences", "oidc_scopes"):
            if key in changes:
                values = [str(v).strip() for v in changes[key] if str(v).strip()]
                changes[key] = parse_policies(values) if key == "token_policies" else tuple(values)
        if "token_bound_cidrs" in changes:
            bad = invalid_blocks(changes["token_bound_cidrs"])
            if bad:
                problems.append(f"invalid CIDR blocks in token_bound_cidrs: {', '.join(bad)}")
            else:
                changes["token_bound_cidrs"] = normalize_blocks(changes["token_bound_cidrs"])
        if "token_type" in changes:
            wanted = str(changes["token_type"]).strip().lower() or "default"
            if wanted not in ("default", "service"):
                problems.append(
                    f'token_type "{wanted}" is not supported: entra-broker issues service '
                    'tokens only; use "service" or leave token_type unset'
                )
            changes["token_type"] = wanted
        role = replace(base, **changes)
        problems.extend(_role_problems(role))
        if problems:
            raise InvalidRequestError(errors=problems)
        await req.storage.put(ROLE_PREFIX + name, role.to_storage())
    logger.info("jwt role written role=%s mount=%s", name, req.mount_point)
    return None


def _role_problems(role: Role) -> list[str]:
    problems: list[str] = []
    if role.role_type not in ("oidc", "jwt"):
        problems.append(f'invalid role_type "{role.role_type}"; use "oidc" or "jwt"')
    if not role.user_claim:
        problems.append("a user claim must be defined on the role")
    if role.role_type == "oidc" and not role.allowed_redirect_uris:
        problems.append(
            "'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."
        )
    if role.bound_claims_type not in ("string", "glob"):
        problems.append('invalid bound_claims_type; use "string" or "glob"')
    if role.token_num_uses < 0:
        problems.append("'token_num_uses' cannot be negative")
    if 0 < role.token_max_ttl < role.token_ttl:
        problems.append("'token_ttl' cannot be greater than 'token_max_ttl'")
    for key in role.claim_mappings.values():
        if key == "role":
            problems.append('claim_mappings may not map to "role"; that metadata key is reserved')
    return problems


ROLE_HELP = """\
An oidc role serves the browser sign-in (auth_url, callback) and needs
allowed_redirect_uris; a jwt role serves login with a JWT and needs bound_audiences.
Both need user_claim. bound_claims restricts who may sign in, e.g. to members of an Entra
group: {"groups": ["<object id>"]}. The token gets token_policies and the token_* TTLs."""
