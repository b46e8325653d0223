"""auth/token/create and create-orphan: Vault's rules for a child (or orphan) token.

The checks run in Vault's order (handleCreateCommon), so a request that breaks several
rules gets the same first error as from Vault; auth/token/create/<role> adds the role's
rules (mount.auth.token_roles).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from functools import partial
from typing import Any

from mount.auth.token_roles import ROLE_NAME, TokenRole, load_role, role_policies
from mount.caller import current_caller
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response
from mount.sdk.ttl import calculate_ttl
from mount.tokens.store import TokenEntry, TokenStore

__all__ = ["CREATE_FIELDS", "create_paths", "seconds_of", "token_create"]

UPDATE = Operation.UPDATE

CREATE_FIELDS: dict[str, Field] = {
    "id": Field(
        FieldType.STRING, "The token value; root tokens only. Empty: random.", sensitive=True
    ),
    "policies": Field(FieldType.STRING_LIST, "Policies of the token; empty: the caller's."),
    "no_default_policy": Field(FieldType.BOOL, "Leave the default policy out.", False),
    "ttl": Field(FieldType.DURATION, "Initial TTL in seconds; 0 uses the system default."),
    "explicit_max_ttl": Field(FieldType.DURATION, "Hard cap on the TTL; 0 means none."),
    "period": Field(FieldType.DURATION, "Periodic token renewal period; 0 means none."),
    "renewable": Field(FieldType.BOOL, "Whether the token may be renewed.", True),
    "display_name": Field(FieldType.STRING, "Name shown in lookups and logs."),
    "num_uses": Field(FieldType.INT, "Uses before the token ends; 0 means unlimited.", 0),
    "no_parent": Field(FieldType.BOOL, "Create an orphan token.", False),
    "meta": Field(FieldType.MAP, "Metadata for the token, string keys and values."),
    "type": Field(FieldType.STRING, "Token type; only `service` is supported."),
    "entity_alias": Field(FieldType.STRING, "Ignored: no identity store."),
    "renew_period": Field(FieldType.DURATION, "Ignored alias of period."),
    "lease": Field(FieldType.DURATION, "Deprecated alias of ttl; ignored."),
}


def create_paths(tokens: TokenStore) -> list[Path]:
    """auth/token/create and create-orphan, over the token store."""
    return [
        Path(
            "create",
            {UPDATE: partial(token_create, tokens)},
            CREATE_FIELDS,
            help_synopsis="Create a token.",
        ),
        Path(
            "create-orphan",
            {UPDATE: partial(token_create, tokens, orphan=True)},
            CREATE_FIELDS,
            help_synopsis="Create a token with no parent.",
        ),
        Path(
            f"create/{ROLE_NAME}",
            {UPDATE: partial(token_create_role, tokens)},
            {**CREATE_FIELDS, "role_name": Field(FieldType.STRING, "The token role to use.")},
            help_synopsis="Create a token under a token role's rules.",
        ),
    ]


async def token_create_role(tokens: TokenStore, req: Request, d: FieldData) -> Response:
    """auth/token/create/<role>: a token on the role's terms (Vault's token store roles)."""
    name = str(d.get("role_name")).lower()
    role = await load_role(req.storage, name)
    if role is None:
        raise InvalidRequestError(f"unknown role {name}")
    return await token_create(tokens, req, d, role=role)


async def token_create(
    tokens: TokenStore,
    req: Request,
    d: FieldData,
    *,
    orphan: bool = False,
    role: TokenRole | None = None,
) -> Response:
    """Vault's handleCreateCommon, its checks in its order."""
    caller = current_caller()
    parent = caller.require_token()
    # A use-limited token could escape its count through children.
    if tokens.limited_use(parent):
        raise InvalidRequestError("restricted use token cannot generate child tokens")
    sudo = parent.is_root or caller.acl.allows(f"auth/token/{req.path}", "sudo")
    num_uses = _num_uses(d)
    meta = _meta(d)
    if d.provided("id") and not sudo:
        raise InvalidRequestError("root or sudo privileges required to specify token id")
    if role is not None and role.sets_policies:
        policies = _with_role(d, parent, role)
    else:
        policies = _policies(d, parent, sudo)
    if role is not None:
        # The role decides both, as in Vault: its CIDRs replace the parent's.
        orphan, bound_cidrs = role.orphan, role.token_bound_cidrs
    else:
        orphan = _orphan(d, sudo, orphan)
        # A child is bound to its parent's CIDRs; an orphan starts afresh, as in Vault.
        bound_cidrs = () if orphan else parent.bound_cidrs
    period = _period(d, sudo)
    explicit = seconds_of(d, "explicit_max_ttl")
    warnings: list[str] = []
    if role is not None:
        explicit, period = _role_limits(role, explicit, period, warnings)
    explicit = _capped_explicit_max(tokens, explicit, period, warnings)
    ttl, ttl_warnings = _creation_ttl(tokens, d, policies, period, explicit)
    warnings += ttl_warnings
    if ttl == 0 and parent.expire_time is not None:
        raise InvalidRequestError("expiring root tokens cannot create non-expiring root tokens")
    token, entry = await tokens.create(
        policies=policies,
        ttl=ttl,
        explicit_max_ttl=explicit,
        period=period,
        renewable=bool(d.get("renewable")) and (role is None or role.renewable),
        display_name=f"token-{d.get('display_name')}" if d.get("display_name") else "token",
        token_id=d.get("id") or None,
        parent=parent,
        orphan=orphan,
        num_uses=num_uses,
        meta=meta,
        # A token that never expires is not bound to addresses either (Vault).
        bound_cidrs=bound_cidrs if ttl else (),
        role=role.name if role is not None else "",
        path=_role_path(role),
    )
    return Reply(auth=entry.auth_block(token, time.time()), warnings=warnings)


def seconds_of(d: FieldData, name: str) -> int:
    """A duration field in whole seconds; absent is 0."""
    value = d.get(name)
    return int(value.total_seconds()) if value is not None else 0


def _num_uses(d: FieldData) -> int:
    num_uses: int = d.get("num_uses") or 0
    if num_uses < 0:
        raise InvalidRequestError("number of uses cannot be negative")
    return num_uses


def _orphan(d: FieldData, sudo: bool, orphan: bool) -> bool:
    """Whether the new token has no parent: create-orphan, or no_parent with sudo."""
    if not d.get("no_parent"):
        return orphan
    if not sudo:
        raise InvalidRequestError("root or sudo privileges required to create orphan token")
    return True


def _period(d: FieldData, sudo: bool) -> int:
    period = seconds_of(d, "period")
    if period > 0 and not sudo:
        raise InvalidRequestError("root or sudo privileges required to create periodic token")
    return period


def _policies(d: FieldData, parent: TokenEntry, sudo: bool) -> list[str]:
    """The new token's policies: those asked (else the parent's), with `default`, allowed."""
    policies: list[str] = sorted({p.strip().lower() for p in d.get("policies") or []} - {""})
    if not policies:
        policies = [p for p in parent.policies if p != "default"]
    if not d.get("no_default_policy") and "root" not in policies:
        policies = sorted({*policies, "default"})
    if not sudo and not set(policies) <= {*parent.policies, "default"}:
        raise InvalidRequestError("child policies must be subset of parent")
    if "root" in policies and not parent.is_root:
        # Sudo on this path must not be a way to root.
        raise InvalidRequestError("root tokens may not be created without parent token being root")
    return policies


def _with_role(d: FieldData, parent: TokenEntry, role: TokenRole) -> list[str]:
    """Policies under a role that names allowed or disallowed ones: the role bounds them."""
    no_default = bool(d.get("no_default_policy"))
    policies = role_policies(role, d.get("policies") or [], parent.policies, no_default)
    if no_default:
        policies = [p for p in policies if p != "default"]
    if "root" in policies and not parent.is_root:
        raise InvalidRequestError("root tokens may not be created without parent token being root")
    return policies


def _role_limits(
    role: TokenRole, explicit: int, period: int, warnings: list[str]
) -> tuple[int, int]:
    """The lesser of the request's and the role's explicit max TTL and period (Vault)."""
    if role.token_explicit_max_ttl:
        if explicit:
            explicit = min(explicit, role.token_explicit_max_ttl)
            warnings.append(
                "Explicit max TTL specified both during creation call and in role; "
                f"using the lesser value of {explicit} seconds"
            )
        else:
            explicit = role.token_explicit_max_ttl
    if role.token_period:
        if period:
            period = min(period, role.token_period)
            warnings.append(
                "Period specified both during creation call and in role; "
                f"using the lesser value of {period} seconds"
            )
        else:
            period = role.token_period
    return explicit, period


def _role_path(role: TokenRole | None) -> str:
    """The token's path: under its role's name and suffix (for revoke-prefix by role)."""
    if role is None:
        return "auth/token/create"
    path = f"auth/token/create/{role.name}"
    return f"{path}/{role.path_suffix}" if role.path_suffix else path


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a map"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else "not a string"


def _meta(d: FieldData) -> dict[str, str] | None:
    """Token metadata: Vault's map[string]string; anything else is refused, not stored."""
    meta = d.get("meta")
    if not meta:
        return None
    for key, value in meta.items():
        if not isinstance(value, str):
            name = json.dumps(key)
            name = name if len(name) <= 66 else name[:62] + '..."'
            raise InvalidRequestError(
                f'"meta" must be a map of strings to strings: the value of {name} is '
                f"{_describe(value)}"
            )
    return dict(meta)


def _capped_explicit_max(
    tokens: TokenStore, explicit: int, period: int, warnings: list[str]
) -> int:
    """An explicit max above the system max is lowered to it, with Vault's warning.

    A periodic token is exempt: its explicit max bounds a period, which may escape the
    system max (Vault's token store).
    """
    system_max = tokens.limits.mount_max
    if period == 0 and 0 < system_max < explicit:
        warnings.append(
            f"Explicit max TTL of {explicit} seconds is greater than system/mount allowed "
            f"value; value is being capped to {system_max} seconds"
        )
        return system_max
    return explicit


def _creation_ttl(
    tokens: TokenStore, d: FieldData, policies: list[str], period: int, explicit: int
) -> tuple[int, list[str]]:
    """The new token's TTL within the system max, with Vault's warnings (0: never expires)."""
    ttl = seconds_of(d, "ttl")
    if ttl == 0 and period == 0 and "root" in policies:
        if explicit == 0:
            return 0, []  # a root token without a TTL never expires, as in Vault
        ttl = explicit  # root tokens are still bound by their explicit max
    warnings: list[str] = []
    if explicit and period == 0:
        asked = ttl or tokens.limits.mount_default
        if asked > explicit:
            # Vault's own sentence for this cap, in seconds, rather than CalculateTTL's.
            warnings.append(
                f"Requested TTL of {asked} seconds higher than explicit max TTL; "
                f"value being capped to {explicit} seconds"
            )
            ttl = explicit
    limits = replace(tokens.limits, ttl=ttl, period=period, explicit_max_ttl=explicit)
    now = time.time()
    ttl, capped = calculate_ttl(limits, start=now, now=now)
    return ttl, warnings + capped
