"""What a set of policies allows on a path, by Vault's most-specific-rule-wins order."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mount.policy.language import PathRule, Policy, merge_wrapping_bounds
from mount.sdk.logical import Operation

__all__ = ["ACL", "ROOT_ACL", "capability_of"]

_CAPABILITY_OF = {
    Operation.READ: "read",
    Operation.LIST: "list",
    Operation.DELETE: "delete",
    Operation.CREATE: "create",
    Operation.UPDATE: "update",
}


def capability_of(operation: Operation) -> str | None:
    """The capability an operation needs; None for help, which any valid token may ask."""
    return _CAPABILITY_OF.get(operation)


@dataclass(frozen=True, slots=True)
class _Compiled:
    rule: PathRule
    regex: re.Pattern[str]
    priority: tuple[int, bool, int, int, str]


class ACL:
    """The merged rules of a token's policies; `root` allows everything."""

    def __init__(self, policies: Iterable[Policy], *, root: bool = False) -> None:
        self.root = root
        merged: dict[str, set[str]] = {}
        bounds: dict[str, tuple[int, int]] = {}
        for policy in policies:
            for rule in policy.rules:
                merged.setdefault(rule.pattern, set()).update(rule.capabilities)
                own = (rule.min_wrapping_ttl, rule.max_wrapping_ttl)
                bounds[rule.pattern] = merge_wrapping_bounds(bounds.get(rule.pattern, (0, 0)), own)
        # Sorted most specific first, so the first match is the one that decides.
        compiled = []
        for pattern, caps in merged.items():
            rule = PathRule(
                pattern, frozenset({"deny"} if "deny" in caps else caps), *bounds[pattern]
            )
            compiled.append(_Compiled(rule, rule.regex(), rule.priority()))
        self._rules = sorted(compiled, key=lambda c: c.priority, reverse=True)

    def capabilities(self, path: str) -> frozenset[str]:
        """The capabilities on `path`; empty when no rule matches (denied)."""
        if self.root:
            return frozenset({"root"})
        for compiled in self._rules:
            if compiled.regex.fullmatch(path):
                caps = compiled.rule.capabilities
                return frozenset() if "deny" in caps else caps
        return frozenset()

    def wrapping_allows(self, path: str, wrap_ttl: int) -> bool:
        """Whether the rule deciding `path` allows a request with this wrap TTL (0: not
        wrapped): Vault's min_wrapping_ttl and max_wrapping_ttl; no bound, any TTL."""
        if self.root:
            return True
        for compiled in self._rules:
            if compiled.regex.fullmatch(path):
                low, high = compiled.rule.min_wrapping_ttl, compiled.rule.max_wrapping_ttl
                if high and not 0 < wrap_ttl <= high:
                    return False
                if low and wrap_ttl < low:
                    return False
                return not (low and high and high < low)
        return True

    def listed(self, path: str) -> list[str]:
        """`capabilities` as sys/capabilities-self answers: sorted, ["deny"] for none."""
        caps = self.capabilities(path)
        return sorted(caps) if caps else ["deny"]

    def reaches_under(self, prefix: str) -> bool:
        """Whether some rule grants anything at or below `prefix` (Vault's mount access
        check, for the UI preflight): a rule inside the prefix, or a glob covering it."""
        if self.root:
            return True
        for compiled in self._rules:
            caps = compiled.rule.capabilities
            if not caps or "deny" in caps:
                continue
            pattern = compiled.rule.pattern
            literal = re.split(r"(?<![^/])\+(?=/|\Z)|\*", pattern, maxsplit=1)[0]
            if literal.startswith(prefix) or (
                len(literal) < len(pattern) and prefix.startswith(literal)
            ):
                return True
        return False

    def allows(self, path: str, capability: str) -> bool:
        caps = self.capabilities(path)
        return self.root or capability in caps


ROOT_ACL = ACL((), root=True)
