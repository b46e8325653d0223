"""What the signed-in token may do, asked of `sys/capabilities-self` once per page.

A page asks about the paths it would act on and renders only the actions allowed; the
API still decides (a 403 shows its own sentence).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mount.ui.api import ApiFailure, UiApi

__all__ = ["Capabilities", "capabilities_of"]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Capabilities per asked path; "root" allows everything, sudo included."""

    by_path: Mapping[str, frozenset[str]]

    def can(self, path: str, *capabilities: str) -> bool:
        """Whether any of `capabilities` is allowed on `path`."""
        found = self.by_path.get(path, frozenset())
        return "root" in found or any(c in found for c in capabilities)

    def sudo(self, path: str, *capabilities: str) -> bool:
        """Whether `path` (a root-protected one) allows one of `capabilities` with sudo."""
        found = self.by_path.get(path, frozenset())
        return "root" in found or ("sudo" in found and any(c in found for c in capabilities))


async def capabilities_of(api: UiApi, token: str, paths: Iterable[str]) -> Capabilities:
    """The token's capabilities on `paths`; none at all if it may not ask."""
    wanted = sorted(set(paths))
    try:
        answer = await api.call(token, "POST", "sys/capabilities-self", {"paths": wanted})
    except ApiFailure:
        return Capabilities({})
    return Capabilities(
        {path: frozenset(answer.data.get(path) or ()) - {"deny"} for path in wanted}
    )
