"""A verified token's claims against a role: audience, subject, bound claims; and what the
login takes from them (the user, groups, metadata). Vault's claims.go, in our words."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from mount.auth.jwt.models import Role

__all__ = ["ClaimError", "check_claims", "claim_value", "login_metadata"]


class ClaimError(Exception):
    """The token does not satisfy the role; the message says which claim."""


def claim_value(claims: Mapping[str, Any], name: str) -> Any:
    """A claim by name, or by JSON pointer ("/a/b") into nested claims; None if absent."""
    if not name.startswith("/"):
        return claims.get(name)
    value: Any = claims
    for part in name[1:].split("/"):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def _matches(actual: Any, wanted: Any, glob: bool) -> bool:
    wanted_values = wanted if isinstance(wanted, list) else [wanted]
    actual_values = actual if isinstance(actual, list) else [actual]
    for a in actual_values:
        for w in wanted_values:
            if glob and isinstance(a, str) and isinstance(w, str):
                if fnmatch.fnmatchcase(a, w):
                    return True
            elif str(a) == str(w):
                return True
    return False


def check_claims(
    role: Role, claims: Mapping[str, Any], *, issuer: str, client_id: str = ""
) -> None:
    """Raise ClaimError unless the token is meant for this role."""
    if issuer and claims.get("iss") != issuer:
        raise ClaimError(f'error validating claims: issuer "{claims.get("iss")}" is not {issuer}')
    audiences = _audiences(claims)
    if role.role_type == "oidc" and client_id and client_id not in audiences:
        raise ClaimError("error validating claims: aud claim does not contain the client id")
    if role.bound_audiences:
        if not set(role.bound_audiences) & set(audiences):
            raise ClaimError("error validating claims: aud claim does not match any bound audience")
    elif role.role_type == "jwt" and audiences:
        raise ClaimError("audience claim found in JWT but no audiences bound to the role")
    if role.bound_subject and claims.get("sub") != role.bound_subject:
        raise ClaimError("sub claim does not match bound subject")
    glob = role.bound_claims_type == "glob"
    for name, wanted in role.bound_claims.items():
        actual = claim_value(claims, name)
        if actual is None:
            raise ClaimError(f'error validating claims: claim "{name}" is missing')
        if not _matches(actual, wanted, glob):
            raise ClaimError(
                f'error validating claims: claim "{name}" does not match any associated bound '
                "claim values"
            )


def user_name(role: Role, claims: Mapping[str, Any]) -> str:
    value = claim_value(claims, role.user_claim)
    if value is None or isinstance(value, (dict, list)):
        raise ClaimError(f'claim "{role.user_claim}" not found in token')
    return str(value)


def groups(role: Role, claims: Mapping[str, Any]) -> list[str]:
    if not role.groups_claim:
        return []
    value = claim_value(claims, role.groups_claim)
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [str(v) for v in values]


def login_metadata(role: Role, claims: Mapping[str, Any]) -> dict[str, str]:
    """{"role": name} plus claim_mappings (claim → metadata key), as Vault's token metadata."""
    metadata = {"role": role.name}
    for claim, key in role.claim_mappings.items():
        value = claim_value(claims, claim)
        if value is not None and not isinstance(value, (dict, list)):
            metadata[key] = str(value)
    return metadata
