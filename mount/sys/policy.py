"""sys/policies/acl, the legacy sys/policy, and sys/capabilities{,-self,-accessor}."""

from __future__ import annotations

import base64
import binascii
from functools import partial
from typing import TYPE_CHECKING

from mount.caller import current_caller
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError, NotFoundError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Handler, Path
from mount.sdk.logical import Operation, Request, Response
from mount.tokens.store import TokenEntry, TokenStore

if TYPE_CHECKING:
    from mount.core import Core
    from mount.policy.store import PolicyStore

__all__ = ["paths"]

READ, UPDATE, DELETE, LIST = Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST


def _policy_text(d: FieldData, *names: str) -> str:
    """The policy from the first field given; base64 is decoded as Vault does."""
    for name in names:
        value = d.get(name)
        if value:
            text = str(value)
            if not text.isascii():  # not base64, which b64decode refuses with a ValueError
                return text
            try:
                return base64.b64decode(text, validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return text
    raise InvalidRequestError("'policy' parameter not supplied or empty")


def _paths_of(d: FieldData) -> list[str]:
    wanted = [*(d.get("paths") or []), *(d.get("path") or [])]
    found = [p.strip().lstrip("/") for p in wanted if p.strip()]
    if not found:
        raise InvalidRequestError("paths must be supplied")
    return found


_NAME = {"name": Field(FieldType.STRING, "The name of the policy.")}
# Any one segment, as Vault routes it: a write with a name outside our rule then gets the
# 400 that says what to use (not "unsupported path"), and a read or delete of it answers as
# for any missing policy (404, 204), as Vault does; hvac's tests delete `['testpolicy']`.
_ANY_NAME = r"(?P<name>[^/]+)"
_POLICY = {
    "policy": Field(
        FieldType.STRING, "The policy document, in HCL or its JSON form (or base64 of either)."
    )
}
_RULES = {"rules": Field(FieldType.STRING, "The policy document (older name of `policy`).")}
_WANTED = {
    "paths": Field(FieldType.STRING_LIST, "The paths to ask about."),
    "path": Field(FieldType.STRING_LIST, "The paths to ask about (older name of `paths`)."),
}


def paths(core: Core) -> list[Path]:
    """The policy endpoints and the capability questions, over the core's policy store."""
    return [*_policy_paths(core.policies), *_capability_paths(core.policies, core.tokens)]


def _policy_paths(store: PolicyStore) -> list[Path]:
    """Read, write, delete and list policies, at the current path and Vault's older one."""
    policy_ops: dict[Operation, Handler] = {
        READ: partial(read_policy, store),
        UPDATE: partial(write_policy, store),
        DELETE: partial(delete_policy, store),
    }
    legacy_ops: dict[Operation, Handler] = {
        READ: partial(legacy_read, store),
        UPDATE: partial(legacy_write, store),
        DELETE: partial(delete_policy, store),
    }
    return [
        Path(
            "policies/acl/?",
            {LIST: partial(list_policies, store)},
            help_synopsis="List the ACL policies.",
        ),
        Path(
            f"policies/acl/{_ANY_NAME}",
            policy_ops,
            {**_NAME, **_POLICY},
            help_synopsis="Read, write or delete an ACL policy.",
        ),
        Path(
            "policy/?",
            {READ: partial(legacy_list, store), LIST: partial(list_policies, store)},
            help_synopsis="List policies.",
        ),
        Path(
            f"policy/{_ANY_NAME}",
            legacy_ops,
            {**_NAME, **_POLICY, **_RULES},
            help_synopsis="Read, write or delete a policy (older path).",
        ),
    ]


def _capability_paths(store: PolicyStore, tokens: TokenStore) -> list[Path]:
    """What a token (the caller's, another's, or one named by accessor) may do on paths."""
    return [
        Path(
            "capabilities-self",
            {UPDATE: partial(capabilities_self, store)},
            {**_WANTED, "token": Field(FieldType.STRING, "Ignored: the caller's token is used.")},
            help_synopsis="The calling token's capabilities on paths.",
        ),
        Path(
            "capabilities",
            {UPDATE: partial(capabilities, store, tokens)},
            {
                **_WANTED,
                "token": Field(FieldType.STRING, "The token to ask about.", sensitive=True),
            },
            help_synopsis="A token's capabilities on paths.",
        ),
        Path(
            "capabilities-accessor",
            {UPDATE: partial(capabilities_accessor, store, tokens)},
            {
                **_WANTED,
                "accessor": Field(FieldType.STRING, "The accessor of the token.", sensitive=True),
            },
            help_synopsis="The capabilities on paths of the token with this accessor.",
        ),
    ]


async def list_policies(store: PolicyStore, req: Request, d: FieldData) -> Response:
    names = await store.names()
    return Reply(data={"keys": names, "policies": names})


async def legacy_list(store: PolicyStore, req: Request, d: FieldData) -> Response:
    names = await store.names()
    return Reply(data={"keys": names, "policies": names}, data_at_top_level=True)


async def read_policy(store: PolicyStore, req: Request, d: FieldData) -> Response:
    record = await store.record(d.get("name"))
    if record is None:
        raise NotFoundError()  # Vault: 404 {"errors":[]}; hvac raises InvalidPath
    return Reply(data={"name": record["name"], "policy": record["policy"]})


async def legacy_read(store: PolicyStore, req: Request, d: FieldData) -> Response:
    record = await store.record(d.get("name"))
    if record is None:
        raise NotFoundError()
    data = {"name": record["name"], "rules": record["policy"]}
    return Reply(data=data, data_at_top_level=True)


async def write_policy(store: PolicyStore, req: Request, d: FieldData) -> None:
    await store.put(d.get("name"), _policy_text(d, "policy"))


async def legacy_write(store: PolicyStore, req: Request, d: FieldData) -> None:
    await store.put(d.get("name"), _policy_text(d, "policy", "rules"))


async def delete_policy(store: PolicyStore, req: Request, d: FieldData) -> None:
    await store.delete(d.get("name"))


async def _capabilities_of(store: PolicyStore, token: TokenEntry, wanted: list[str]) -> Response:
    acl = await store.acl(token.policies)
    data: dict[str, list[str]] = {path: acl.listed(path) for path in wanted}
    if len(wanted) == 1:
        data["capabilities"] = data[wanted[0]]
    return Reply(data=data, data_at_top_level=True)


async def capabilities_self(store: PolicyStore, req: Request, d: FieldData) -> Response:
    token = current_caller().token
    assert isinstance(token, TokenEntry)  # the core authenticated this request
    return await _capabilities_of(store, token, _paths_of(d))


async def capabilities(
    store: PolicyStore, tokens: TokenStore, req: Request, d: FieldData
) -> Response:
    token = await tokens.lookup(d.get("token") or "")
    if token is None:
        raise InvalidRequestError("invalid token")
    return await _capabilities_of(store, token, _paths_of(d))


async def capabilities_accessor(
    store: PolicyStore, tokens: TokenStore, req: Request, d: FieldData
) -> Response:
    token = await tokens.by_accessor(d.get("accessor") or "")
    return await _capabilities_of(store, token, _paths_of(d))
