"""The `role/` paths: create, read, list and delete AppRole roles, and read or set a role id."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.auth.approle.models import ROLE_PREFIX, Role, new_hmac_key
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
    format_duration,
    name_pattern,
)
from mount.sdk.cidrs import invalid_blocks, normalize_blocks

if TYPE_CHECKING:
    from mount.auth.approle.backend import AppRoleBackend

__all__ = ["MAX_NAME_BYTES", "paths", "role_field", "parse_policies"]

logger = logging.getLogger(__name__)

# Vault HMACs role names and secret ids and refuses inputs longer than this.
MAX_NAME_BYTES = 4096
ROLE = f"role/{name_pattern('role_name')}"


def role_field() -> dict[str, Field]:
    return {
        "role_name": Field(
            FieldType.NAME, f"Name of the role; case-insensitive, at most {MAX_NAME_BYTES} bytes."
        )
    }


FIELDS: dict[str, Field] = {
    **role_field(),
    "role_id": Field(
        FieldType.STRING,
        "Identifier of the role, used to log in; empty on creation generates a UUID.",
    ),
    "bind_secret_id": Field(
        FieldType.BOOL,
        "Require a secret id at login; if false, another constraint (a CIDR list) is needed.",
        default=True,
    ),
    "secret_id_bound_cidrs": Field(
        FieldType.STRING_LIST,
        "CIDR blocks (or addresses) logins must come from; empty allows any address.",
    ),
    "secret_id_num_uses": Field(
        FieldType.INT, "Logins each secret id allows; 0 means unlimited.", default=0
    ),
    "secret_id_ttl": Field(
        FieldType.DURATION,
        "Lifetime of secret ids in seconds or a duration such as 24h; 0 means they never "
        "expire; the mount's max lease TTL caps it.",
        default=0,
    ),
    "token_policies": Field(
        FieldType.STRING_LIST, "Policies of the tokens issued at login; `default` is added."
    ),
    "policies": Field(FieldType.STRING_LIST, "Deprecated: use token_policies."),
    "token_ttl": Field(
        FieldType.DURATION,
        "Initial TTL of issued tokens in seconds or a duration such as 1h; 0 uses the "
        "mount's default lease TTL.",
        default=0,
    ),
    "token_max_ttl": Field(
        FieldType.DURATION,
        "Longest lifetime of issued tokens, renewals included, in seconds; 0 uses the "
        "mount's max lease TTL.",
        default=0,
    ),
    "token_explicit_max_ttl": Field(
        FieldType.DURATION,
        "A hard limit on issued tokens' lifetime, even when periodic, in seconds; 0 means none.",
        default=0,
    ),
    "token_period": Field(
        FieldType.DURATION,
        "Make issued tokens periodic: each renewal extends them by this many seconds; 0 "
        "means not periodic.",
        default=0,
    ),
    "period": Field(FieldType.DURATION, "Deprecated: use token_period."),
    "token_num_uses": Field(
        FieldType.INT, "Requests each issued token may make; 0 means unlimited.", default=0
    ),
    "token_bound_cidrs": Field(
        FieldType.STRING_LIST,
        "CIDR blocks (or addresses) issued tokens may be used from; empty allows any address.",
    ),
    "token_no_default_policy": Field(
        FieldType.BOOL, "Leave the `default` policy off issued tokens.", default=False
    ),
    "token_type": Field(
        FieldType.STRING,
        "Type of issued tokens: `service` or `default` (also service); batch tokens are "
        "not supported.",
    ),
}

_TOKEN_TYPES = {"": "default", "default": "default", "service": "service"}


def paths(b: AppRoleBackend) -> list[Path]:
    write = partial(role_write, b)
    return [
        Path(
            "role/?",
            {Operation.LIST: role_list},
            help_synopsis="List the roles.",
            help_description="The names of every AppRole role of this mount.",
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
            help_synopsis=ROLE_HELP_SYN,
            help_description=ROLE_HELP_DESC,
        ),
        Path(
            f"{ROLE}/role-id",
            {Operation.READ: partial(role_id_read, b), Operation.UPDATE: partial(role_id_write, b)},
            {
                **role_field(),
                "role_id": Field(FieldType.STRING, "The new role id; must not be empty."),
            },
            help_synopsis="Read the role id of a role, or set a custom one.",
            help_description=ROLE_ID_HELP_DESC,
        ),
    ]


def parse_policies(values: list[str]) -> tuple[str, ...]:
    """Policy names trimmed, lowercased, deduplicated and sorted, as Vault stores them."""
    return tuple(sorted({v.strip().lower() for v in values if v.strip()}))


def _seconds(d: FieldData, name: str) -> int:
    value: timedelta = d.get(name)
    return int(value.total_seconds())


async def role_exists(b: AppRoleBackend, req: Request, d: FieldData) -> bool:
    return await b.load_role(req.storage, d.get("role_name")) is not None


async def role_list(req: Request, d: FieldData) -> Response:
    keys = [k for k in await req.storage.list(ROLE_PREFIX) if not k.endswith("/")]
    if not keys:
        raise NotFoundError()
    return Response(data={"keys": keys})


async def role_read(b: AppRoleBackend, req: Request, d: FieldData) -> Response:
    role = await b.load_role(req.storage, d.get("role_name"))
    if role is None:
        raise NotFoundError()
    return Response(data=role.read_data())


def _policies(d: FieldData, base: Role) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(token_policies, policies) by Vault's rule for a deprecated field beside its successor."""
    if d.provided("token_policies"):
        given = parse_policies(d.get("token_policies"))
        return given, given if d.provided("policies") else ()
    if d.provided("policies"):
        legacy = parse_policies(d.get("policies"))
        return legacy, legacy
    return base.token_policies, base.policies


def _period(d: FieldData, base: Role) -> tuple[int, int]:
    """(token_period, period), by the same rule as `_policies`."""
    if d.provided("token_period"):
        given = _seconds(d, "token_period")
        return given, given if d.provided("period") else 0
    if d.provided("period"):
        legacy = _seconds(d, "period")
        return legacy, legacy
    return base.token_period, base.period


def _token_type(d: FieldData, base: Role, problems: list[str], warnings: list[str]) -> str:
    if not d.provided("token_type"):
        return base.token_type
    wanted = str(d.get("token_type")).strip().lower()
    if wanted == "default-service":
        warnings.append("default-service has no useful meaning; adjusting to service")
        wanted = "service"
    if wanted in ("batch", "default-batch"):
        problems.append(
            f'token_type "{wanted}" is not supported: entra-broker issues service tokens '
            'only; use "service" or leave token_type unset'
        )
    elif wanted not in _TOKEN_TYPES:
        problems.append(f'invalid \'token_type\' value "{wanted}"; use "service"')
    return _TOKEN_TYPES.get(wanted, base.token_type)


def _cidrs(
    d: FieldData, name: str, current: tuple[str, ...], problems: list[str]
) -> tuple[str, ...]:
    if not d.provided(name):
        return current
    given: list[str] = d.get(name)
    bad = invalid_blocks(given)
    if bad:
        problems.append(
            f"invalid CIDR blocks in {name}: {', '.join(bad)}; give IP addresses or CIDR "
            "blocks such as 10.0.0.0/8"
        )
        return current
    return normalize_blocks(given)


def _updated_role(
    b: AppRoleBackend, d: FieldData, base: Role, problems: list[str], warnings: list[str]
) -> Role:
    """The role with the request's fields applied over `base`; problems are collected."""

    def value(name: str) -> Any:
        if not d.provided(name):
            return getattr(base, name)
        return _seconds(d, name) if d.schema[name].type is FieldType.DURATION else d.get(name)

    token_policies, policies = _policies(d, base)
    token_period, period = _period(d, base)
    role = replace(
        base,
        bind_secret_id=bool(value("bind_secret_id")),
        secret_id_bound_cidrs=_cidrs(
            d, "secret_id_bound_cidrs", base.secret_id_bound_cidrs, problems
        ),
        secret_id_num_uses=value("secret_id_num_uses"),
        secret_id_ttl=value("secret_id_ttl"),
        token_policies=token_policies,
        policies=policies,
        token_ttl=value("token_ttl"),
        token_max_ttl=value("token_max_ttl"),
        token_explicit_max_ttl=value("token_explicit_max_ttl"),
        token_period=token_period,
        period=period,
        token_num_uses=value("token_num_uses"),
        token_bound_cidrs=_cidrs(d, "token_bound_cidrs", base.token_bound_cidrs, problems),
        token_no_default_policy=bool(value("token_no_default_policy")),
        token_type=_token_type(d, base, problems, warnings),
    )
    if role.secret_id_num_uses < 0:
        problems.append("secret_id_num_uses cannot be negative")
    if role.token_num_uses < 0:
        problems.append("'token_num_uses' cannot be negative")
    if 0 < role.token_max_ttl < role.token_ttl:
        problems.append("'token_ttl' cannot be greater than 'token_max_ttl'")
    if role.token_period > b.max_lease_ttl:
        problems.append(
            f'period of "{format_duration(role.token_period)}" is greater than the '
            f'backend\'s maximum lease TTL of "{format_duration(b.max_lease_ttl)}"'
        )
    if not problems and not role.has_constraint():
        problems.append(
            "at least one constraint should be enabled on the role: set bind_secret_id, "
            "secret_id_bound_cidrs or token_bound_cidrs"
        )
    if role.token_max_ttl > b.max_lease_ttl:
        warnings.append(
            "token_max_ttl is greater than the backend mount's maximum TTL value; issued "
            "tokens' max TTL value will be truncated"
        )
    return role


async def role_write(b: AppRoleBackend, req: Request, d: FieldData) -> Response | None:
    name = str(d.get("role_name")).lower()
    if len(name.encode()) > MAX_NAME_BYTES:
        raise InvalidRequestError(f"role_name is longer than maximum of {MAX_NAME_BYTES} bytes")
    if ".." in name:
        raise InvalidRequestError('role_name must not contain ".."')
    problems: list[str] = []
    warnings: list[str] = []
    async with b.role_lock:
        existing = await b.load_role(req.storage, name)
        base = existing or Role(name=name, role_id=str(uuid.uuid4()), hmac_key=new_hmac_key())
        if d.provided("role_id"):
            role_id = str(d.get("role_id")).strip()
            if not role_id:
                problems.append("invalid role_id supplied, or failed to generate a role_id")
            elif await b.role_id_owner(req.storage, role_id) not in (None, name):
                problems.append("role_id already in use")
            else:
                base = replace(base, role_id=role_id)
        role = _updated_role(b, d, base, problems, warnings)
        if problems:
            raise InvalidRequestError(errors=problems)
        await b.save_role(req.storage, role, existing.role_id if existing else "")
    logger.info("approle role written role=%s mount=%s", name, req.mount_point)
    return Response(warnings=warnings) if warnings else None


async def role_delete(b: AppRoleBackend, req: Request, d: FieldData) -> None:
    async with b.role_lock:
        role = await b.load_role(req.storage, d.get("role_name"))
        if role is None:
            return
        await b.delete_role(req.storage, role)
    logger.info("approle role deleted role=%s mount=%s", role.name, req.mount_point)


async def role_id_read(b: AppRoleBackend, req: Request, d: FieldData) -> Response:
    role = await b.load_role(req.storage, d.get("role_name"))
    if role is None:
        raise NotFoundError()
    return Response(data={"role_id": role.role_id})


async def role_id_write(b: AppRoleBackend, req: Request, d: FieldData) -> None:
    role_id = str(d.get("role_id") or "").strip()
    if not role_id:
        raise InvalidRequestError("missing role_id")
    async with b.role_lock:
        role = await b.load_role(req.storage, d.get("role_name"))
        if role is None:
            raise NotFoundError(f'role "{d.get("role_name")}" does not exist')
        if await b.role_id_owner(req.storage, role_id) not in (None, role.name):
            raise InvalidRequestError("role_id already in use")
        await b.save_role(req.storage, replace(role, role_id=role_id), role.role_id)


ROLE_HELP_SYN = "Register a role, read it, or delete it."
ROLE_HELP_DESC = """\
A role sets what a login with its role id (and, with bind_secret_id, a secret id)
earns: the token's policies, TTLs, use count and the addresses it may be used from.
Deleting a role deletes every secret id issued for it."""
ROLE_ID_HELP_DESC = """\
The role id is the login's first credential, like a user name: hand it to the app.
Reading returns it; writing sets a custom one, which must not belong to another role."""
