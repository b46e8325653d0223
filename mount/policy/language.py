"""ACL policies in Vault's HCL language (or its JSON form): parsing, checking, built-ins."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mount.config.hcl import (
    BLOCK_MARK,
    META_KEYS,
    HCLSyntaxError,
    is_json,
    label,
    parse_document,
    parse_json_document,
)
from mount.sdk.durations import DurationError, parse_duration
from mount.sdk.errors import InvalidRequestError

__all__ = [
    "CAPABILITIES",
    "DEFAULT_POLICY",
    "RESPONSE_WRAPPING_POLICY",
    "RESPONSE_WRAPPING_POLICY_NAME",
    "Policy",
    "PathRule",
    "merge_wrapping_bounds",
    "parse_policy",
    "is_policy_name",
    "valid_policy_name",
]

CAPABILITIES = ("create", "read", "update", "patch", "delete", "list", "sudo", "deny")
# Vault's legacy `policy = "..."` shorthand, expanded to capabilities.
_LEGACY = {
    "deny": ("deny",),
    "read": ("read", "list"),
    "write": ("create", "read", "update", "patch", "delete", "list"),
    "sudo": ("create", "read", "update", "patch", "delete", "list", "sudo"),
}
# Rule keys Vault knows that this broker does not enforce: refusing them is safer than
# accepting a policy whose author believes a parameter is restricted.
_UNSUPPORTED_KEYS = (
    "allowed_parameters",
    "denied_parameters",
    "required_parameters",
    "control_group",
    "mfa_methods",
)
_NAME = re.compile(r"[a-z0-9][a-z0-9_.@-]*")

# The default policy, attached to every token unless it asks otherwise: what a token needs
# to manage itself and the leases it holds, as Vault's default policy grants.
DEFAULT_POLICY = """\
# Look up, renew and revoke the calling token itself.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Ask which capabilities the calling token has on a path.
path "sys/capabilities-self" {
  capabilities = ["update"]
}

# Renew and look up a lease whose id the caller knows (the lease id is the secret).
path "sys/leases/renew" {
  capabilities = ["update"]
}
path "sys/renew" {
  capabilities = ["update"]
}
path "sys/leases/lookup" {
  capabilities = ["update"]
}

# Wrap data, and look up, unwrap and rewrap a wrapping token the caller holds.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}
path "sys/wrapping/lookup" {
  capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
path "sys/wrapping/rewrap" {
  capabilities = ["update"]
}
"""

# The built-in policy of wrapping tokens (never stored, never edited): a wrapping token
# can do nothing but be unwrapped, looked up or rewrapped, as in Vault.
RESPONSE_WRAPPING_POLICY_NAME = "response-wrapping"
RESPONSE_WRAPPING_POLICY = """path "sys/wrapping/unwrap" {
  capabilities = ["update"]
}
path "sys/wrapping/lookup" {
  capabilities = ["read", "update"]
}
path "sys/wrapping/rewrap" {
  capabilities = ["update"]
}
"""


@dataclass(frozen=True, slots=True)
class PathRule:
    """One `path "..." { capabilities = [...] }` block, compiled for matching."""

    pattern: str
    capabilities: frozenset[str]
    # Vault's min_wrapping_ttl / max_wrapping_ttl in seconds (0: no bound); with a max, a
    # request must ask for wrapping (X-Vault-Wrap-TTL) within it to be allowed.
    min_wrapping_ttl: int = 0
    max_wrapping_ttl: int = 0

    @property
    def is_glob(self) -> bool:
        return self.pattern.endswith("*")

    def regex(self) -> re.Pattern[str]:
        body = self.pattern[:-1] if self.is_glob else self.pattern
        parts = [r"[^/]+" if segment == "+" else re.escape(segment) for segment in body.split("/")]
        return re.compile("/".join(parts) + (".*" if self.is_glob else ""), re.DOTALL)

    def priority(self) -> tuple[int, bool, int, int, str]:
        """Vault's order among matching rules: the larger tuple is the more specific rule.

        A rule loses to one whose first wildcard (+ or *) comes later, to one not ending in
        `*`, to one with fewer `+` segments, to a longer one, then lexically.
        """
        wildcards = [i for i, c in enumerate(self.pattern) if c == "*"]
        plus = [m.start() for m in re.finditer(r"(?<![^/])\+(?=/|\Z)", self.pattern)]
        first = min([*wildcards, *plus], default=len(self.pattern) + 1)
        return (first, not self.is_glob, -len(plus), len(self.pattern), self.pattern)


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    text: str
    rules: tuple[PathRule, ...]


def is_policy_name(name: str) -> bool:
    """Whether a policy could be stored under this name (valid_policy_name would accept it)."""
    return _NAME.fullmatch(name.lower()) is not None


def valid_policy_name(name: str) -> str:
    """The stored form of a policy name (Vault lowercases them), or a 400."""
    lowered = name.lower()
    if not _NAME.fullmatch(lowered):
        raise InvalidRequestError(
            f'invalid policy name "{name}": use letters, digits and "_.@-", '
            "starting with a letter or digit"
        )
    return lowered


def parse_policy(name: str, text: str) -> Policy:
    """Parse and check policy text, HCL or JSON as Vault tells them; a 400 names every problem."""
    parse = parse_json_document if is_json(text) else parse_document
    try:
        document = parse(text, f'policy "{name}"')
    except HCLSyntaxError as exc:
        raise InvalidRequestError(f"failed to parse policy: {exc}") from None
    errors: list[str] = []
    for key in sorted(set(document) - {"path", "name"}):
        errors.append(f'unknown key "{key}": a policy holds path "<path>" {{ ... }} blocks')
    merged: dict[str, set[str]] = {}
    bounds: dict[str, tuple[int, int]] = {}
    for pattern, body in _path_blocks(document.get("path"), errors):
        caps = _capabilities(pattern, body, errors)
        if caps is not None:
            merged.setdefault(pattern, set()).update(caps)
        found = _wrapping_bounds(pattern, body, errors)
        if found != (0, 0):
            bounds[pattern] = merge_wrapping_bounds(bounds.get(pattern, (0, 0)), found)
    if errors:
        raise InvalidRequestError(f"failed to parse policy: {'; '.join(errors)}")
    rules = tuple(
        PathRule(
            pattern, frozenset({"deny"} if "deny" in caps else caps), *bounds.get(pattern, (0, 0))
        )
        for pattern, caps in merged.items()
    )
    return Policy(name=name, text=text, rules=rules)


def _path_blocks(raw: Any, errors: list[str]) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if raw is None:
        return
    for block in raw if isinstance(raw, list) else [raw]:
        if not isinstance(block, dict) or BLOCK_MARK in block:
            errors.append('each path block needs its path, as in path "entra/creds/alice" { ... }')
            continue
        for raw_pattern, body in block.items():
            pattern = label(str(raw_pattern)).lstrip("/")
            if not isinstance(body, dict):
                errors.append(f'path "{pattern}" must be a block {{ ... }}')
                continue
            if "*" in pattern[:-1]:
                errors.append(f'path "{pattern}": "*" may only end a path; use "+" for one segment')
            yield pattern, {k: v for k, v in body.items() if k not in META_KEYS}


_WRAPPING_KEYS = ("min_wrapping_ttl", "max_wrapping_ttl")


def _wrapping_bounds(pattern: str, body: Mapping[str, Any], errors: list[str]) -> tuple[int, int]:
    """A block's (min_wrapping_ttl, max_wrapping_ttl) in seconds, as Vault parses them."""
    found = []
    for key in _WRAPPING_KEYS:
        raw = body.get(key)
        seconds = 0
        if raw is not None:
            try:
                seconds = int(parse_duration(str(raw)).total_seconds())
            except DurationError as exc:
                errors.append(f'path "{pattern}": error parsing {key}: {exc}')
        found.append(seconds)
    low, high = found
    if low and high and high < low:
        errors.append(f'path "{pattern}": max_wrapping_ttl cannot be less than min_wrapping_ttl')
    return low, high


def merge_wrapping_bounds(one: tuple[int, int], other: tuple[int, int]) -> tuple[int, int]:
    """Vault's merge of two rules' bounds on one path: the lower of each non-zero bound."""
    low = min((b for b in (one[0], other[0]) if b), default=0)
    high = min((b for b in (one[1], other[1]) if b), default=0)
    return low, high


def _capabilities(pattern: str, body: Mapping[str, Any], errors: list[str]) -> set[str] | None:
    found: set[str] = set()
    for key in body:
        if key in _UNSUPPORTED_KEYS:
            errors.append(f'path "{pattern}": {key} is not supported by entra-broker; remove it')
        elif key not in ("capabilities", "policy", *_WRAPPING_KEYS):
            errors.append(f'path "{pattern}": unknown key "{key}"')
    caps = body.get("capabilities")
    if caps is not None:
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            errors.append(f'path "{pattern}": capabilities must be a list of strings')
            return None
        for cap in caps:
            if cap not in CAPABILITIES:
                errors.append(
                    f'path "{pattern}": invalid capability "{cap}"; use {", ".join(CAPABILITIES)}'
                )
        found.update(c for c in caps if c in CAPABILITIES)
    legacy = body.get("policy")
    if legacy is not None:
        if not isinstance(legacy, str) or legacy not in _LEGACY:
            shown = f'"{legacy}"' if isinstance(legacy, str) else "(not a string)"
            errors.append(f'path "{pattern}": invalid policy {shown}; use {", ".join(_LEGACY)}')
        else:
            found.update(_LEGACY[legacy])
    if caps is None and legacy is None:
        errors.append(f'path "{pattern}": capabilities = [...] is required')
    return found
