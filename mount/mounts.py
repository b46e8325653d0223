"""The mount table: which backend serves which path prefix (`entra/`, `sys/`, `auth/token/`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from mount.ids import random_id
from mount.sdk.errors import InvalidRequestError, NotFoundError
from mount.sdk.framework import Backend
from mount.sdk.logical import BatchStorage, Storage

__all__ = ["MountEntry", "MountTable", "ViewStore", "clear_view", "sanitize_path"]


def check_tuned_ttls(default_ttl: int, max_ttl: int) -> None:
    """OpenBao's one check on a tune: a mount's max (when set) is not below its default.

    A mount's max may exceed the server's max_lease_ttl: it then replaces it for that
    mount, as in Vault and OpenBao.
    """
    if default_ttl and max_ttl and max_ttl < default_ttl:
        raise InvalidRequestError(
            f"backend max lease TTL of {max_ttl} would be less than backend default "
            f"lease TTL of {default_ttl}"
        )


@dataclass(slots=True)
class MountEntry:
    """One mounted backend. `kind` is "secret" or "auth", as in sys/internal/ui/mounts."""

    path: str
    type: str
    backend: Backend
    storage: Storage
    kind: str = "secret"
    description: str = ""
    accessor: str = ""
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    local: bool = False
    seal_wrap: bool = False
    default_lease_ttl: int = 0
    max_lease_ttl: int = 0
    # The engine's mount options (`bao secrets enable -options=k=v`); None: none given.
    options: dict[str, str] | None = None
    # The host's own backends (sys/, auth/token/) learn who calls (mount.caller);
    # engines and auth methods get only what mount.sdk declares.
    builtin: bool = False

    def __post_init__(self) -> None:
        if not self.accessor:
            self.accessor = f"{self.type}_{random_id(8).lower()}"

    def describe(self) -> dict[str, Any]:
        """The mount's entry as sys/mounts and sys/internal/ui/mounts show it."""
        return {
            "accessor": self.accessor,
            "config": {
                "default_lease_ttl": self.default_lease_ttl,
                "force_no_cache": False,
                "max_lease_ttl": self.max_lease_ttl,
            },
            "description": self.description,
            "external_entropy_access": False,
            "local": self.local,
            "options": self.options,
            "plugin_version": "",
            "running_plugin_version": "",
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.type,
            "uuid": self.uuid,
        }


class MountTable:
    """Longest-prefix routing of request paths to mounts."""

    def __init__(self) -> None:
        self._mounts: dict[str, MountEntry] = {}

    def add(self, entry: MountEntry) -> None:
        if not entry.path.endswith("/"):
            raise ValueError(f"mount path {entry.path!r} must end with '/'")
        self._mounts[entry.path] = entry

    def get(self, path: str) -> MountEntry | None:
        return self._mounts.get(path)

    def remove(self, path: str) -> MountEntry | None:
        """Unmount `path`; returns the entry that was there, if any."""
        return self._mounts.pop(path, None)

    def entries(self) -> list[MountEntry]:
        return list(self._mounts.values())

    def match(self, path: str) -> tuple[MountEntry, str]:
        """The mount serving `path` and the rest of the path inside it."""
        best: MountEntry | None = None
        for prefix, entry in self._mounts.items():
            if (path.startswith(prefix) or path + "/" == prefix) and (
                best is None or len(prefix) > len(best.path)
            ):
                best = entry
        if best is None:
            raise NotFoundError(f'no handler for route "{path}". route entry not found.')
        return best, path[len(best.path) :]

    def mount_of(self, path: str) -> MountEntry | None:
        try:
            return self.match(path)[0]
        except NotFoundError:
            return None


class ViewStore(Storage, Protocol):
    """The store a mount table keeps its mounts' storage in: one view per mount."""

    def view(self, prefix: str) -> BatchStorage: ...


def sanitize_path(path: str) -> str:
    """Vault's sanitizePath: no leading slash, one trailing slash."""
    return path.strip().strip("/") + "/"


async def clear_view(storage: Storage, prefix: str = "") -> None:
    """Delete every key under `prefix` of a view (a disabled mount leaves nothing behind)."""
    for child in await storage.list(prefix):
        if child.endswith("/"):
            await clear_view(storage, prefix + child)
        else:
            await storage.delete(prefix + child)
