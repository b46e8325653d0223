"""The secret-id paths of a role: issue (random or custom), list, look up and destroy."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.auth.approle.models import (
    SECRET_ID_PREFIX,
    Role,
    SecretId,
    secret_id_hmac,
    secret_id_key,
)
from mount.auth.approle.path_role import MAX_NAME_BYTES, ROLE, role_field
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
    Storage,
)
from mount.sdk.cidrs import invalid_blocks, normalize_blocks, subset_of

if TYPE_CHECKING:
    from mount.auth.approle.backend import AppRoleBackend

__all__ = ["parse_metadata", "paths"]

logger = logging.getLogger(__name__)

UPDATE, DELETE, LIST = Operation.UPDATE, Operation.DELETE, Operation.LIST

ISSUE_FIELDS: dict[str, Field] = {
    **role_field(),
    "metadata": Field(
        FieldType.RAW,
        "Metadata of the secret id, copied onto the tokens it logs in: a JSON object of "
        "strings (or its JSON text, or key=value pairs separated by commas); empty: none.",
    ),
    "cidr_list": Field(
        FieldType.STRING_LIST,
        "CIDR blocks (or addresses) this secret id may log in from, within the role's "
        "secret_id_bound_cidrs; empty: the role's.",
    ),
    "token_bound_cidrs": Field(
        FieldType.STRING_LIST,
        "CIDR blocks the tokens of this secret id may be used from, within the role's "
        "token_bound_cidrs; empty: the role's.",
    ),
    "num_uses": Field(
        FieldType.INT,
        "Logins this secret id allows, at most the role's secret_id_num_uses; unset: the role's.",
    ),
    "ttl": Field(
        FieldType.DURATION,
        "Lifetime of this secret id in seconds, at most the role's secret_id_ttl; unset: "
        "the role's.",
    ),
}
SECRET_ID_FIELD = {
    "secret_id": Field(FieldType.STRING, "The secret id to act on.", sensitive=True),
}
ACCESSOR_FIELD = {
    "secret_id_accessor": Field(
        FieldType.STRING, "The accessor of the secret id to act on.", sensitive=True
    ),
}


def paths(b: AppRoleBackend) -> list[Path]:
    return [
        Path(
            f"{ROLE}/secret-id/?",
            {UPDATE: partial(secret_id_issue, b), LIST: partial(secret_id_list, b)},
            ISSUE_FIELDS,
            help_synopsis="Issue a secret id for the role, or list its secret ids' accessors.",
            help_description=SECRET_ID_HELP_DESC,
        ),
        Path(
            f"{ROLE}/custom-secret-id",
            {UPDATE: partial(secret_id_issue, b, custom=True)},
            {
                **ISSUE_FIELDS,
                "secret_id": Field(
                    FieldType.STRING,
                    f"The secret id to register, at most {MAX_NAME_BYTES} bytes.",
                    sensitive=True,
                ),
            },
            help_synopsis="Register a secret id of your choosing for the role.",
            help_description=CUSTOM_HELP_DESC,
        ),
        Path(
            f"{ROLE}/secret-id/lookup/?",
            {UPDATE: partial(secret_id_lookup, b)},
            {**role_field(), **SECRET_ID_FIELD},
            help_synopsis="Read the properties of a secret id (never the secret id itself).",
        ),
        Path(
            f"{ROLE}/secret-id/destroy/?",
            {UPDATE: partial(secret_id_destroy, b), DELETE: partial(secret_id_destroy, b)},
            {**role_field(), **SECRET_ID_FIELD},
            help_synopsis="Destroy a secret id: it no longer logs in.",
        ),
        Path(
            f"{ROLE}/secret-id-accessor/lookup/?",
            {UPDATE: partial(accessor_lookup, b)},
            {**role_field(), **ACCESSOR_FIELD},
            help_synopsis="Read the properties of a secret id by its accessor.",
        ),
        Path(
            f"{ROLE}/secret-id-accessor/destroy/?",
            {UPDATE: partial(accessor_destroy, b), DELETE: partial(accessor_destroy, b)},
            {**role_field(), **ACCESSOR_FIELD},
            help_synopsis="Destroy a secret id by its accessor.",
        ),
    ]


def parse_metadata(value: Any) -> dict[str, str]:
    """Secret-id metadata as Vault takes it: an object, its JSON text, or `k=v,k2=v2`."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{"):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise InvalidRequestError(
                    f"failed to parse metadata: it is not valid JSON ({exc.msg})"
                ) from None
        else:
            pairs: dict[str, str] = {}
            for item in text.split(","):
                key, sep, val = item.partition("=")
                if not sep or not key.strip():
                    raise InvalidRequestError(
                        f'failed to parse metadata: "{item.strip()}" is not a key=value pair'
                    )
                pairs[key.strip()] = val.strip()
            return pairs
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidRequestError(
            "failed to parse metadata: give a JSON object whose values are all strings"
        )
    return dict(value)


async def _role(b: AppRoleBackend, storage: Storage, name: str) -> Role:
    role = await b.load_role(storage, name)
    if role is None:
        raise InvalidRequestError(f'role "{name}" does not exist')
    return role


def _cidr_problems(
    given: list[str], bound: tuple[str, ...], name: str, role_field: str
) -> list[str]:
    bad = invalid_blocks(given)
    if bad:
        return [f"failed to validate CIDR blocks in {name}: {', '.join(bad)}"]
    if given and bound and not subset_of(given, bound):
        return [
            f"the CIDR blocks in {name} ({', '.join(given)}) must lie within the role's "
            f"{role_field} ({', '.join(bound)})"
        ]
    return []


async def secret_id_issue(
    b: AppRoleBackend, req: Request, d: FieldData, *, custom: bool = False
) -> Response:
    name = str(d.get("role_name"))
    secret_id = str(d.get("secret_id") or "").strip() if custom else str(uuid.uuid4())
    if not secret_id:
        raise InvalidRequestError("missing secret_id")
    if len(secret_id.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidRequestError(f"secret_id is longer than maximum of {MAX_NAME_BYTES} bytes")
    async with b.role_lock:  # the role must not vanish between the checks and the write
        role = await b.load_role(req.storage, name)
        if role is None:
            raise NotFoundError(f'role "{name}" does not exist')
        if not role.bind_secret_id:
            raise InvalidRequestError("bind_secret_id is not set on the role")
        cidr_list: list[str] = d.get("cidr_list") or []
        token_cidrs: list[str] = d.get("token_bound_cidrs") or []
        problems = [
            *_cidr_problems(
                cidr_list, role.secret_id_bound_cidrs, "cidr_list", "secret_id_bound_cidrs"
            ),
            *_cidr_problems(
                token_cidrs, role.token_bound_cidrs, "token_bound_cidrs", "token_bound_cidrs"
            ),
        ]
        num_uses = role.secret_id_num_uses
        if d.provided("num_uses"):
            num_uses = d.get("num_uses")
            if num_uses < 0:
                problems.append("num_uses cannot be negative")
            elif role.secret_id_num_uses > 0 and not 0 < num_uses <= role.secret_id_num_uses:
                problems.append("num_uses cannot be higher than the role's secret_id_num_uses")
        ttl = role.secret_id_ttl
        if d.provided("ttl"):
            requested: timedelta = d.get("ttl")
            ttl = int(requested.total_seconds())
            if role.secret_id_ttl > 0 and not 0 < ttl <= role.secret_id_ttl:
                problems.append("ttl cannot be longer than the role's secret_id_ttl")
        try:
            metadata = parse_metadata(d.get("metadata"))
        except InvalidRequestError as exc:
            problems.extend(exc.errors)
        if problems:
            raise InvalidRequestError(errors=problems)

        digest = secret_id_hmac(role.hmac_key, secret_id)
        async with b.secret_lock(digest):
            if await req.storage.get(secret_id_key(role.name, digest)) is not None:
                raise InvalidRequestError("SecretID is already registered")
            now = time.time()
            lifetime = b.derived_secret_id_ttl(ttl)
            entry = SecretId(
                accessor=str(uuid.uuid4()),
                role=role.name,
                num_uses=num_uses,
                ttl=ttl,
                creation_time=now,
                expiration_time=now + lifetime if lifetime else 0,
                last_updated_time=now,
                metadata=metadata,
                cidr_list=normalize_blocks(cidr_list),
                token_bound_cidrs=normalize_blocks(token_cidrs),
            )
            await b.write_secret_id(req.storage, digest, entry)
    logger.info(
        "approle secret id issued role=%s secret_id_accessor=%s num_uses=%d ttl=%d",
        role.name,
        entry.accessor,
        num_uses,
        lifetime,
    )
    return Response(
        data={
            "secret_id": secret_id,
            "secret_id_accessor": entry.accessor,
            "secret_id_num_uses": num_uses,
            "secret_id_ttl": lifetime,
        }
    )


async def secret_id_list(b: AppRoleBackend, req: Request, d: FieldData) -> Response:
    role = await _role(b, req.storage, d.get("role_name"))
    now = time.time()
    accessors = []
    for digest in await req.storage.list(f"{SECRET_ID_PREFIX}{role.name}/"):
        entry = await b.load_secret_id(req.storage, role.name, digest)
        if entry is not None and not entry.expired(now):
            accessors.append(entry.accessor)
    if not accessors:
        raise NotFoundError()
    return Response(data={"keys": sorted(accessors)})


def _secret_id(d: FieldData) -> str:
    secret_id = str(d.get("secret_id") or "").strip()
    if not secret_id:
        raise InvalidRequestError("missing secret_id")
    return secret_id


async def secret_id_lookup(b: AppRoleBackend, req: Request, d: FieldData) -> Response | None:
    secret_id = _secret_id(d)
    role = await _role(b, req.storage, d.get("role_name"))
    digest = secret_id_hmac(role.hmac_key, secret_id)
    async with b.secret_lock(digest):
        entry = await b.live_secret_id(req.storage, role.name, digest)
    # Vault answers an unknown secret id with no content, as for any write-style path.
    return None if entry is None else Response(data=entry.lookup_data())


async def secret_id_destroy(b: AppRoleBackend, req: Request, d: FieldData) -> None:
    secret_id = _secret_id(d)
    role = await _role(b, req.storage, d.get("role_name"))
    digest = secret_id_hmac(role.hmac_key, secret_id)
    async with b.secret_lock(digest):
        await b.delete_secret_id(req.storage, role.name, digest)


def _accessor(d: FieldData) -> str:
    accessor = str(d.get("secret_id_accessor") or "").strip()
    if not accessor:
        raise InvalidRequestError("missing secret_id_accessor")
    return accessor


async def accessor_lookup(b: AppRoleBackend, req: Request, d: FieldData) -> Response | None:
    accessor = _accessor(d)
    role = await _role(b, req.storage, d.get("role_name"))
    digest = await b.by_accessor(req.storage, role, accessor)
    if digest is None:
        raise NotFoundError(f'failed to find accessor entry for secret_id_accessor: "{accessor}"')
    async with b.secret_lock(digest):
        entry = await b.live_secret_id(req.storage, role.name, digest)
    return None if entry is None else Response(data=entry.lookup_data())


async def accessor_destroy(b: AppRoleBackend, req: Request, d: FieldData) -> None:
    accessor = _accessor(d)
    role = await _role(b, req.storage, d.get("role_name"))
    digest = await b.by_accessor(req.storage, role, accessor)
    if digest is None:
        raise InvalidRequestError(
            f'failed to find accessor entry for secret_id_accessor: "{accessor}"'
        )
    async with b.secret_lock(digest):
        await b.delete_secret_id(req.storage, role.name, digest)
    logger.info("approle secret id destroyed role=%s secret_id_accessor=%s", role.name, accessor)


SECRET_ID_HELP_DESC = """\
POST issues a new random secret id, the login's second credential: deliver it to the app
separately from the role id. It is shown once and stored only as an HMAC. LIST returns
the accessors of the role's live secret ids, with which they can be looked up or
destroyed without knowing them."""
CUSTOM_HELP_DESC = """\
Registers a secret id you choose instead of a random one, with the same limits as a
generated secret id. Prefer generated ones: a guessable secret id is a weak credential."""
