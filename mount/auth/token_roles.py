"""auth/token/roles/<name>: token roles, and the rules a role puts on auth/token/create/<name>.

A role lets a caller create tokens it could not create alone (Vault's token store
roles): with `allowed_policies` (or their globs) the new token's policies are checked
against the role, not against the parent's, so a role is how an operator delegates
"tokens with policy X" without handing out X. The role's name is kept in the token
(`role` in lookups) and in its path (`auth/token/create/<name>[/<path_suffix>]`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from mount.reply import Reply
from mount.sdk.cidrs import invalid_blocks, normalize_blocks
from mount.sdk.errors import InvalidRequestError, NotFoundError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response, Storage

__all__ = ["ROLE_NAME", "TokenRole", "glob_match", "load_role", "role_paths", "role_policies"]

READ, CREATE, UPDATE, DELETE, LIST = (
    Operation.READ,
    Operation.CREATE,
    Operation.UPDATE,
    Operation.DELETE,
    Operation.LIST,
)
# Vault's GenericNameRegex: a word character at each end, dashes and dots between.
ROLE_NAME = r"(?P<role_name>\w(?:[\w.-]*\w)?)"
_PREFIX = "roles/"
_SUFFIX = re.compile(r"\w(?:[\w.-]*\w)?(?:/\w(?:[\w.-]*\w)?)*")


@dataclass(frozen=True, slots=True)
class TokenRole:
    """A stored token role; durations in seconds."""

    name: str
    allowed_policies: tuple[str, ...] = ()
    disallowed_policies: tuple[str, ...] = ()
    allowed_policies_glob: tuple[str, ...] = ()
    disallowed_policies_glob: tuple[str, ...] = ()
    allowed_entity_aliases: tuple[str, ...] = ()
    orphan: bool = False
    renewable: bool = True
    path_suffix: str = ""
    token_period: int = 0
    token_explicit_max_ttl: int = 0
    token_bound_cidrs: tuple[str, ...] = ()
    token_no_default_policy: bool = False
    token_type: str = "default-service"

    def to_storage(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_storage(cls, raw: dict[str, Any]) -> TokenRole:
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**values)

    def describe(self) -> dict[str, Any]:
        """The role as Vault's read answers it (the legacy names repeat the token_ ones)."""
        return {
            "allowed_entity_aliases": list(self.allowed_entity_aliases),
            "allowed_policies": list(self.allowed_policies),
            "allowed_policies_glob": list(self.allowed_policies_glob),
            "disallowed_policies": list(self.disallowed_policies),
            "disallowed_policies_glob": list(self.disallowed_policies_glob),
            "explicit_max_ttl": self.token_explicit_max_ttl,
            "name": self.name,
            "orphan": self.orphan,
            "path_suffix": self.path_suffix,
            "period": self.token_period,
            "renewable": self.renewable,
            "token_bound_cidrs": list(self.token_bound_cidrs),
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_no_default_policy": self.token_no_default_policy,
            "token_period": self.token_period,
            "token_type": self.token_type,
        }

    @property
    def sets_policies(self) -> bool:
        return bool(
            self.allowed_policies
            or self.disallowed_policies
            or self.allowed_policies_glob
            or self.disallowed_policies_glob
        )


def _list(help_text: str) -> Field:
    return Field(FieldType.STRING_LIST, help_text)


ROLE_FIELDS: dict[str, Field] = {
    "role_name": Field(FieldType.STRING, "The role's name."),
    "allowed_policies": _list("Policies tokens of this role may have, beyond the parent's."),
    "disallowed_policies": _list("Policies tokens of this role may never have."),
    "allowed_policies_glob": _list("Globs (`*` anywhere) of policies tokens may have."),
    "disallowed_policies_glob": _list("Globs of policies tokens may never have."),
    "allowed_entity_aliases": _list("Accepted and stored; this server has no identity store."),
    "orphan": Field(FieldType.BOOL, "Tokens of this role have no parent (no sudo needed)."),
    "renewable": Field(FieldType.BOOL, "Whether tokens of this role may be renewed.", True),
    "path_suffix": Field(FieldType.STRING, "Appended to the tokens' path, for revoke-prefix."),
    "token_period": Field(FieldType.DURATION, "Tokens are periodic with this period."),
    "period": Field(FieldType.DURATION, "Deprecated name of token_period."),
    "token_explicit_max_ttl": Field(FieldType.DURATION, "Hard cap on the tokens' TTL."),
    "explicit_max_ttl": Field(FieldType.DURATION, "Deprecated name of token_explicit_max_ttl."),
    "token_bound_cidrs": _list("CIDR blocks the tokens may be used from."),
    "bound_cidrs": _list("Deprecated name of token_bound_cidrs."),
    "token_no_default_policy": Field(
        FieldType.BOOL, "Stored and shown; as in Vault, create adds `default` by its own rules."
    ),
    "token_type": Field(FieldType.STRING, "service or default-service (no batch tokens)."),
    "token_num_uses": Field(FieldType.INT, "Must be 0: set num_uses at create instead."),
    "token_ttl": Field(FieldType.DURATION, "Must be 0: token roles take no TTL (Vault)."),
    "token_max_ttl": Field(FieldType.DURATION, "Must be 0: token roles take no max TTL (Vault)."),
    "token_policies": _list("Must be empty: use allowed_policies (Vault)."),
}


def role_paths() -> list[Path]:
    return [
        Path(
            "roles/?",
            {LIST: list_roles},
            help_synopsis="List the token roles.",
        ),
        Path(
            f"roles/{ROLE_NAME}",
            {READ: read_role, CREATE: write_role, UPDATE: write_role, DELETE: delete_role},
            ROLE_FIELDS,
            existence_check=role_exists,
            help_synopsis="Create, read, update or delete a token role.",
        ),
    ]


async def load_role(storage: Storage, name: str) -> TokenRole | None:
    raw = await storage.get(_PREFIX + name.lower())
    return TokenRole.from_storage(raw) if isinstance(raw, dict) else None


async def role_exists(req: Request, d: FieldData) -> bool:
    return await load_role(req.storage, d.get("role_name")) is not None


async def list_roles(req: Request, d: FieldData) -> Response:
    keys = sorted(await req.storage.list(_PREFIX))
    if not keys:
        raise NotFoundError()  # Vault's empty LIST is a 404 (hvac's list_roles raises InvalidPath)
    return Reply(data={"keys": keys})


async def read_role(req: Request, d: FieldData) -> Response:
    role = await load_role(req.storage, d.get("role_name"))
    if role is None:
        raise NotFoundError()  # Vault's empty 404 for a role that does not exist
    return Reply(data=role.describe())


async def delete_role(req: Request, d: FieldData) -> None:
    await req.storage.delete(_PREFIX + str(d.get("role_name")).lower())


def _policies(values: Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted({v.strip().lower() for v in values or ()} - {""}))


def _seconds(d: FieldData, name: str, legacy: str, current: int) -> int:
    for key in (name, legacy):
        if d.provided(key):
            value = d.get(key)
            return int(value.total_seconds()) if value is not None else 0
    return current


def _cidrs(d: FieldData, current: tuple[str, ...]) -> tuple[str, ...]:
    for key in ("token_bound_cidrs", "bound_cidrs"):
        if d.provided(key):
            given = [b.strip() for b in d.get(key) or () if b.strip()]
            bad = invalid_blocks(given)
            if bad:
                raise InvalidRequestError(f"invalid {key}: {', '.join(bad)} is not a CIDR block")
            return normalize_blocks(given)
    return current


def _refuse_login_fields(d: FieldData) -> None:
    for key in ("token_num_uses", "token_ttl", "token_max_ttl"):
        if d.get(key):
            raise InvalidRequestError(
                f"{key} is not supported on token roles; set it on the create request "
                "(num_uses, ttl, explicit_max_ttl) instead"
            )
    if d.get("token_policies"):
        raise InvalidRequestError(
            "token_policies is not supported on token roles; use allowed_policies"
        )


async def write_role(req: Request, d: FieldData) -> Response | None:
    name = str(d.get("role_name")).lower()
    found = await load_role(req.storage, name)
    role = found or TokenRole(name=name)
    _refuse_login_fields(d)
    changes: dict[str, Any] = {}
    for key in (
        "allowed_policies",
        "disallowed_policies",
        "allowed_policies_glob",
        "disallowed_policies_glob",
    ):
        if d.provided(key):
            changes[key] = _policies(d.get(key))
    if d.provided("allowed_entity_aliases"):
        changes["allowed_entity_aliases"] = tuple(d.get("allowed_entity_aliases") or ())
    for key in ("orphan", "renewable", "token_no_default_policy"):
        if d.provided(key):
            changes[key] = bool(d.get(key))
    if d.provided("path_suffix"):
        suffix = str(d.get("path_suffix") or "").strip("/")
        if ".." in suffix:
            raise InvalidRequestError(
                "error registering path suffix: path suffix cannot contain '..'"
            )
        if suffix and not _SUFFIX.fullmatch(suffix):
            raise InvalidRequestError("given role path suffix contains invalid characters")
        changes["path_suffix"] = suffix
    if d.provided("token_type"):
        token_type = str(d.get("token_type") or "").strip().lower()
        if token_type in ("batch", "default-batch"):
            raise InvalidRequestError(
                f'token_type "{token_type}" is not supported: entra-broker issues service '
                "tokens only; use service or default-service"
            )
        if token_type not in ("", "service", "default-service"):
            raise InvalidRequestError(f"invalid 'token_type' value {token_type!r}")
        changes["token_type"] = token_type or "default-service"
    changes["token_period"] = _seconds(d, "token_period", "period", role.token_period)
    changes["token_explicit_max_ttl"] = _seconds(
        d, "token_explicit_max_ttl", "explicit_max_ttl", role.token_explicit_max_ttl
    )
    if changes["token_period"] < 0 or changes["token_explicit_max_ttl"] < 0:
        raise InvalidRequestError("token_period and token_explicit_max_ttl must be positive")
    changes["token_bound_cidrs"] = _cidrs(d, role.token_bound_cidrs)
    updated = TokenRole(**{**asdict(role), **changes})
    await req.storage.put(_PREFIX + name, updated.to_storage())
    return None


def glob_match(patterns: Iterable[str], value: str) -> bool:
    """Vault's StrListContainsGlob: `*` matches any run of characters, nothing else special."""
    for pattern in patterns:
        regex = ".*".join(re.escape(part) for part in pattern.split("*"))
        if re.fullmatch(regex, value, re.DOTALL):
            return True
    return False


def _quoted(values: Iterable[str]) -> str:
    """A list as Go prints `%q` of a []string: ["a" "b"]."""
    return "[" + " ".join(f'"{v}"' for v in values) + "]"


def _sanitize(policies: Iterable[str], add_default: bool) -> list[str]:
    """Vault's SanitizePolicies: trimmed, lowercased, unique, sorted; `default` unless root."""
    found = {p.strip().lower() for p in policies} - {""}
    if add_default and "root" not in found:
        found.add("default")
    return sorted(found)


def role_policies(
    role: TokenRole, asked: list[str], parent: tuple[str, ...], no_default: bool
) -> list[str]:
    """The policies of a token created against a role that sets allowed/disallowed ones.

    Vault's rule: the role, not the parent, bounds them; asked for none, the token gets
    the role's allowed_policies (globs are not expanded), or the parent's if the role
    names none. `default` is added unless asked not to or the role disallows it.
    """
    add_default = not no_default and "default" not in role.disallowed_policies
    final = _sanitize(asked, add_default) if asked else []
    if role.allowed_policies or role.allowed_policies_glob:
        allowed = _sanitize(role.allowed_policies, add_default)
        if not final:
            final = allowed
        else:
            for policy in final:
                if policy not in allowed and not glob_match(role.allowed_policies_glob, policy):
                    raise InvalidRequestError(
                        f"token policies ({_quoted(final)}) must be subset of the role's "
                        f"allowed policies ({_quoted(allowed)}) or glob policies "
                        f"({_quoted(role.allowed_policies_glob)})"
                    )
    elif not final:
        final = _sanitize(parent, add_default)
    for policy in final:
        if policy in role.disallowed_policies or glob_match(role.disallowed_policies_glob, policy):
            raise InvalidRequestError(f'token policy "{policy}" is disallowed by this role')
    return final
