"""sys/policies/acl, the legacy sys/policy, and sys/capabilities{,-self,-accessor}."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from mount.caller import current_caller
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError, NotFoundError
from mount.sdk.framework import Field, FieldData, FieldType, Path, name_pattern
from mount.sdk.logical import Operation, Request, Response
from mount.tokens.store import TokenEntry

if TYPE_CHECKING:
    from mount.core import Core

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


def paths(core: Core) -> list[Path]:
    store = core.policies

    async def list_policies(req: Request, d: FieldData) -> Response:
        names = await store.names()
        return Reply(data={"keys": names, "policies": names})

    async def legacy_list(req: Request, d: FieldData) -> Response:
        names = await store.names()
        return Reply(data={"keys": names, "policies": names}, data_at_top_level=True)

    async def read_policy(req: Request, d: FieldData) -> Response:
        record = await store.record(d.get("name"))
        if record is None:
            raise NotFoundError()  # Vault: 404 {"errors":[]}; hvac raises InvalidPath
        return Reply(data={"name": record["name"], "policy": record["policy"]})

    async def legacy_read(req: Request, d: FieldData) -> Response:
        record = await store.record(d.get("name"))
        if record is None:
            raise NotFoundError()
        data = {"name": record["name"], "rules": record["policy"]}
        return Reply(data=data, data_at_top_level=True)

    async def write_policy(req: Request, d: FieldData) -> None:
        await store.put(d.get("name"), _policy_text(d, "policy"))

    async def legacy_write(req: Request, d: FieldData) -> None:
        await store.put(d.get("name"), _policy_text(d, "policy", "rules"))

    async def delete_policy(req: Request, d: FieldData) -> None:
        await store.delete(d.get("name"))

    async def answer(token: TokenEntry, wanted: list[str]) -> Response:
        acl = await store.acl(token.policies)
        data: dict[str, list[str]] = {path: acl.listed(path) for path in wanted}
        if len(wanted) == 1:
            data["capabilities"] = data[wanted[0]]
        return Reply(data=data, data_at_top_level=True)

    async def capabilities_self(req: Request, d: FieldData) -> Response:
        token = current_caller().token
        assert isinstance(token, TokenEntry)  # the core authenticated this request
        return await answer(token, _paths_of(d))

    async def capabilities(req: Request, d: FieldData) -> Response:
        token = await core.tokens.lookup(d.get("token") or "")
        if token is None:
            raise InvalidRequestError("invalid token")
        return await answer(token, _paths_of(d))

    async def capabilities_accessor(req: Request, d: FieldData) -> Response:
        token = await core.tokens.by_accessor(d.get("accessor") or "")
        return await answer(token, _paths_of(d))

    name = {"name": Field(FieldType.STRING, "The name of the policy.")}
    policy = {
        "policy": Field(
            FieldType.STRING, "The policy document, in HCL or its JSON form (or base64 of either)."
        )
    }
    rules = {"rules": Field(FieldType.STRING, "The policy document (older name of `policy`).")}
    wanted = {
        "paths": Field(FieldType.STRING_LIST, "The paths to ask about."),
        "path": Field(FieldType.STRING_LIST, "The paths to ask about (older name of `paths`)."),
    }
    policy_ops = {READ: read_policy, UPDATE: write_policy, DELETE: delete_policy}
    legacy_ops = {READ: legacy_read, UPDATE: legacy_write, DELETE: delete_policy}
    return [
        Path(
            "policies/acl/?",
            {LIST: list_policies},
            help_synopsis="List the ACL policies.",
        ),
        Path(
            f"policies/acl/{name_pattern('name')}",
            policy_ops,
            {**name, **policy},
            help_synopsis="Read, write or delete an ACL policy.",
        ),
        Path("policy/?", {READ: legacy_list, LIST: list_policies}, help_synopsis="List policies."),
        Path(
            f"policy/{name_pattern('name')}",
            legacy_ops,
            {**name, **policy, **rules},
            help_synopsis="Read, write or delete a policy (older path).",
        ),
        Path(
            "capabilities-self",
            {UPDATE: capabilities_self},
            {**wanted, "token": Field(FieldType.STRING, "Ignored: the caller's token is used.")},
            help_synopsis="The calling token's capabilities on paths.",
        ),
        Path(
            "capabilities",
            {UPDATE: capabilities},
            {**wanted, "token": Field(FieldType.STRING, "The token to ask about.", sensitive=True)},
            help_synopsis="A token's capabilities on paths.",
        ),
        Path(
            "capabilities-accessor",
            {UPDATE: capabilities_accessor},
            {
                **wanted,
                "accessor": Field(FieldType.STRING, "The accessor of the token.", sensitive=True),
            },
            help_synopsis="The capabilities on paths of the token with this accessor.",
        ),
    ]
