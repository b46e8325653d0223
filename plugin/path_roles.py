"""The `roles/` paths: bind one Entra user, checked against Graph, to a role name."""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

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
from plugin.graph import NOT_FOUND, GraphClient, GraphError
from plugin.graph.models import GraphUser
from plugin.models import ROLE_PREFIX, CredentialType, Mode, Role
from plugin.passwords import DEFAULT_LENGTH, MAX_LENGTH, MIN_LENGTH
from plugin.privileged import refuse_privileged_user

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

MAX_UPN_LENGTH = 113
# Entra's longest Temporary Access Pass lifetime: 30 days.
MAX_TAP_TTL = timedelta(days=30)
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

__all__ = ["paths", "role_delete", "role_exists", "role_list", "role_read", "role_write"]

logger = logging.getLogger(__name__)

FIELDS = {
    "name": Field(
        FieldType.NAME,
        "Name of the role; also the user principal name to bind when neither "
        "user_principal_name nor object_id is given.",
    ),
    "user_principal_name": Field(
        FieldType.STRING,
        "User principal name of the Entra user, such as alice@contoso.com; empty uses "
        "object_id, or the role name when both are empty.",
    ),
    "object_id": Field(
        FieldType.STRING,
        "Object id (GUID) of the Entra user; takes precedence over user_principal_name.",
    ),
    "ttl": Field(
        FieldType.DURATION,
        "Default lease TTL of issued passwords, in seconds or a duration such as 1h; 0 uses "
        "the mount's default lease TTL.",
        default=0,
    ),
    "max_ttl": Field(
        FieldType.DURATION,
        "Longest lifetime of a lease with renewals, in seconds or a duration such as 24h; "
        "0 uses the mount's max lease TTL.",
        default=0,
    ),
    "password_length": Field(
        FieldType.INT,
        f"Length of generated passwords in characters, {MIN_LENGTH} to {MAX_LENGTH}; "
        f"default {DEFAULT_LENGTH}.",
        default=DEFAULT_LENGTH,
    ),
    "mode": Field(
        FieldType.STRING,
        "rotate: each read sets a new password and ends the user's earlier leases; "
        "exclusive: a read is refused while another lease of the user is active; "
        "default rotate.",
        default=Mode.ROTATE.value,
        allowed=tuple(m.value for m in Mode),
    ),
    "allow_privileged_user": Field(
        FieldType.BOOL,
        "Allow a user who holds a privileged Entra directory role, such as Global "
        "Administrator; false refuses such a user when the role is written and when a "
        "password is issued.",
        default=False,
    ),
    "credential_type": Field(
        FieldType.STRING,
        "What creds hand out: password (reset the user's password), temporary_access_pass "
        "(a Temporary Access Pass for the user, not renewable) or client_secret (a new client "
        "secret of application_object_id); default password.",
        default=CredentialType.PASSWORD.value,
        allowed=tuple(t.value for t in CredentialType),
    ),
    "is_usable_once": Field(
        FieldType.BOOL,
        "For temporary_access_pass roles: the pass signs in only once; default false (any "
        "number of times within its lifetime).",
        default=False,
    ),
    "application_object_id": Field(
        FieldType.STRING,
        "For client_secret roles: the object id (GUID) of the Entra application that gets "
        "a new client secret per lease; required for them, empty otherwise.",
    ),
}


def paths(b: EntraBackend) -> list[Path]:
    write = partial(role_write, b)
    return [
        Path(
            f"roles/{name_pattern('name')}",
            operations={
                Operation.READ: partial(role_read, b),
                Operation.CREATE: write,
                Operation.UPDATE: write,
                Operation.DELETE: partial(role_delete, b),
            },
            fields=FIELDS,
            existence_check=role_exists,
            help_synopsis=ROLE_HELP_SYN,
            help_description=ROLE_HELP_DESC,
        ),
        Path(
            "roles/?",
            operations={Operation.LIST: partial(role_list, b)},
            help_synopsis=ROLE_LIST_HELP_SYN,
            help_description=ROLE_LIST_HELP_DESC,
        ),
    ]


async def role_exists(req: Request, d: FieldData) -> bool:
    return await req.storage.get(ROLE_PREFIX + d.get("name")) is not None


async def role_read(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    role = await b.load_role(req.storage, d.get("name"))
    if role is None:
        raise NotFoundError()
    return Response(
        data={
            "user_principal_name": role.user_principal_name,
            "object_id": role.object_id,
            "ttl": int(role.ttl.total_seconds()),
            "max_ttl": int(role.max_ttl.total_seconds()),
            "password_length": role.password_length,
            "mode": role.mode.value,
            "allow_privileged_user": role.allow_privileged_user,
            "credential_type": role.credential_type.value,
            "is_usable_once": role.is_usable_once,
            "application_object_id": role.application_object_id,
            "client_id": role.client_id,
        }
    )


async def role_write(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    name: str = d.get("name")
    existing = await b.load_role(req.storage, name)
    kind = (
        CredentialType(d.get("credential_type"))
        if d.provided("credential_type")
        else (existing.credential_type if existing is not None else CredentialType.PASSWORD)
    )
    if not kind.binds_user:
        return await _application_role_write(b, req, d, name, existing)
    if existing is not None and not existing.credential_type.binds_user:
        existing = None  # switching from an application role: nothing of it carries over
    draft = _user_role_draft(d, name, existing, kind)
    upn, object_id, defaulted = _user_named(d, name, existing)
    problems = _user_role_problems(d, draft, upn, object_id)
    if problems:
        raise InvalidRequestError(errors=problems)

    config = await b.require_config(req.storage)
    graph = await b.graph(config)
    user = await _find_user(graph, config.tenant_id, upn, object_id, defaulted)
    if not draft.allow_privileged_user:
        await refuse_privileged_user(
            graph, object_id=user.object_id, upn=user.user_principal_name, role=name
        )
    role = dataclasses.replace(
        draft, user_principal_name=user.user_principal_name, object_id=user.object_id
    )
    await b.records.put(req.storage, ROLE_PREFIX + name, role.to_storage())
    logger.info(
        "role written role=%s credential_type=%s object_id=%s upn=%s mode=%s "
        "allow_privileged_user=%s",
        name,
        kind.value,
        role.object_id,
        role.user_principal_name,
        role.mode.value,
        role.allow_privileged_user,
    )
    if user.account_enabled is False:
        return Response(
            warnings=[
                f'Entra user "{user.user_principal_name}" is disabled (accountEnabled is '
                "false): passwords can be issued but will not sign in"
            ]
        )
    return None


def _user_role_draft(d: FieldData, name: str, existing: Role | None, kind: CredentialType) -> Role:
    """The role as written, its user not yet resolved. Update semantics: fields not sent
    keep the stored role's values (or the defaults)."""
    base = existing or Role(name=name, user_principal_name="", object_id="")

    def given(field_name: str, default: Any) -> Any:
        return d.get(field_name) if d.provided(field_name) else default

    return Role(
        name=name,
        user_principal_name="",
        object_id="",
        ttl=given("ttl", base.ttl),
        max_ttl=given("max_ttl", base.max_ttl),
        password_length=given("password_length", base.password_length),
        mode=Mode(d.get("mode")) if d.provided("mode") else base.mode,
        allow_privileged_user=given("allow_privileged_user", base.allow_privileged_user),
        credential_type=kind,
        is_usable_once=given("is_usable_once", base.is_usable_once),
    )


def _user_named(d: FieldData, name: str, existing: Role | None) -> tuple[str, str, bool]:
    """(upn, object_id, defaulted): the user to look up; with neither given, the stored
    role's user, else the role name as the user principal name (defaulted)."""
    upn = str(d.get("user_principal_name") or "").strip()
    object_id = str(d.get("object_id") or "").strip()
    if not upn and not object_id:
        if existing is not None:
            return upn, existing.object_id, False
        return name, object_id, True
    return upn, object_id, False


def _user_role_problems(d: FieldData, draft: Role, upn: str, object_id: str) -> list[str]:
    problems = []
    # Entra limits a UPN to 113 characters and an object id is a GUID: anything else
    # cannot name a user, so it is refused here rather than sent to Graph in a URL.
    if len(upn) > MAX_UPN_LENGTH:
        problems.append(
            f"user_principal_name must be at most {MAX_UPN_LENGTH} characters, as in Entra"
        )
    if object_id and not _GUID.fullmatch(object_id):
        problems.append("object_id must be a GUID such as 6c0f5c7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f")
    if not MIN_LENGTH <= draft.password_length <= MAX_LENGTH:
        problems.append(f"password_length must be between {MIN_LENGTH} and {MAX_LENGTH}")
    if draft.ttl and draft.max_ttl and draft.ttl > draft.max_ttl:
        problems.append("ttl cannot be greater than max_ttl")
    if draft.credential_type is CredentialType.TEMPORARY_ACCESS_PASS and draft.ttl > MAX_TAP_TTL:
        problems.append(
            "ttl of a temporary_access_pass role must be at most 720h (30 days), the longest "
            "lifetime Entra gives a Temporary Access Pass"
        )
    if d.provided("application_object_id") and str(d.get("application_object_id")).strip():
        problems.append(
            f"application_object_id applies to client_secret roles only; this role's "
            f"credential_type is {draft.credential_type.value}"
        )
    return problems


async def _find_user(
    graph: GraphClient, tenant_id: str, upn: str, object_id: str, defaulted: bool
) -> GraphUser:
    """The Entra user a role names; a 400 sentence when there is none or the names differ."""
    lookup = object_id or upn
    try:
        user = await graph.get_user(lookup)
    except GraphError as exc:
        if exc.code != NOT_FOUND and exc.graph_status != 404:
            raise
        hint = "; set user_principal_name or object_id" if defaulted else ""
        raise InvalidRequestError(
            f'Entra user "{lookup}" was not found in tenant {tenant_id}{hint}'
        ) from None
    if object_id and upn and user.user_principal_name.lower() != upn.lower():
        raise InvalidRequestError(
            f'object_id "{object_id}" belongs to "{user.user_principal_name}", not to '
            f'user_principal_name "{upn}"; give only one of them'
        )
    return user


async def _application_role_write(
    b: EntraBackend, req: Request, d: FieldData, name: str, existing: Role | None
) -> Response | None:
    """A client_secret role: binds an application, looked up in Graph on every write."""
    base = existing if existing is not None and not existing.credential_type.binds_user else None
    ttl: timedelta = d.get("ttl") if d.provided("ttl") else (base.ttl if base else timedelta(0))
    max_ttl: timedelta = (
        d.get("max_ttl") if d.provided("max_ttl") else (base.max_ttl if base else timedelta(0))
    )
    app_object_id = str(d.get("application_object_id") or "").strip() or (
        base.application_object_id if base else ""
    )
    problems = _application_role_problems(d, app_object_id, ttl, max_ttl)
    if problems:
        raise InvalidRequestError(errors=problems)

    config = await b.require_config(req.storage)
    graph = await b.graph(config)
    try:
        app = await graph.get_application(app_object_id)
    except GraphError as exc:
        if exc.graph_status != 404:
            raise
        raise InvalidRequestError(
            f'Entra application "{app_object_id}" was not found in tenant {config.tenant_id}; '
            "application_object_id is the application's object id (not its client id)"
        ) from None
    role = Role(
        name=name,
        user_principal_name="",
        object_id="",
        ttl=ttl,
        max_ttl=max_ttl,
        credential_type=CredentialType.CLIENT_SECRET,
        application_object_id=app.object_id,
        client_id=app.app_id,
    )
    await b.records.put(req.storage, ROLE_PREFIX + name, role.to_storage())
    logger.info(
        "role written role=%s credential_type=client_secret application_object_id=%s client_id=%s",
        name,
        app.object_id,
        app.app_id,
    )
    return None


def _application_role_problems(
    d: FieldData, app_object_id: str, ttl: timedelta, max_ttl: timedelta
) -> list[str]:
    problems = []
    if not app_object_id:
        problems.append("application_object_id is required for a client_secret role")
    elif not _GUID.fullmatch(app_object_id):
        problems.append(
            "application_object_id must be a GUID such as 6c0f5c7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f "
            "(the application's object id, not its client id)"
        )
    for field_name in ("user_principal_name", "object_id"):
        if d.provided(field_name) and str(d.get(field_name)).strip():
            problems.append(
                f"{field_name} applies to roles that bind a user; a client_secret role binds "
                "the application named by application_object_id"
            )
    if d.provided("mode") and d.get("mode") == Mode.EXCLUSIVE.value:
        problems.append(
            "mode=exclusive applies to roles that bind a user; the client secrets of a "
            "client_secret role's leases coexist, each with its own key"
        )
    if ttl and max_ttl and ttl > max_ttl:
        problems.append("ttl cannot be greater than max_ttl")
    return problems


async def role_delete(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    name = d.get("name")
    await b.records.delete(req.storage, ROLE_PREFIX + name)
    logger.info("role deleted role=%s", name)
    return None


async def role_list(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    keys = [k for k in await req.storage.list(ROLE_PREFIX) if not k.endswith("/")]
    if not keys:
        raise NotFoundError()
    return Response(data={"keys": keys})


ROLE_HELP_SYN = "Manage the roles that bind Entra users."
ROLE_HELP_DESC = """\
A role binds one Entra user, named by user principal name or object id (the role name
is taken as the user principal name when neither is given). The user is looked up in
Microsoft Graph on every write, and both its object id and user principal name are
stored. A write changes only the fields it names.

A user who holds a privileged Entra directory role (Global Administrator, Privileged Role
Administrator, User Administrator and the others Microsoft labels privileged) is refused,
at write and again before each password is issued, unless allow_privileged_user is true.
The check reads the user's directory roles through Graph and fails closed: if Graph will
not say which roles the user holds, the role is refused.

Reading creds/<name> resets the user's password under a lease with the role's ttl and
max_ttl. In rotate mode every read sets a new password and ends the user's earlier
leases; in exclusive mode a read is refused while a lease of the user is active.
Deleting a role does not revoke its leases; revoke them with sys/leases/revoke-prefix.

credential_type=temporary_access_pass issues a Temporary Access Pass for the user instead
(lifetime: the lease TTL, at most 30 days; not renewable). credential_type=client_secret
binds the application named by application_object_id instead of a user, and each lease
adds a client secret to it that Entra ends at the lease's max TTL.
"""
ROLE_LIST_HELP_SYN = "List the roles."
ROLE_LIST_HELP_DESC = "Lists the names of all roles; an empty list answers 404."
