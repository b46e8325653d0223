"""The auth table: enable, disable and, at start, restore auth method mounts (`auth/<path>/`)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any, Protocol

from mount.auth import approle as auth_approle
from mount.auth import jwt as auth_jwt
from mount.mounts import MountEntry, MountTable
from mount.sdk.errors import ConflictError, InvalidRequestError, VaultError
from mount.sdk.factory import BackendFactory
from mount.sdk.framework import Backend
from mount.sdk.logical import BackendConfig, BatchStorage, LoginSpec, Operation, Request, Storage
from mount.sdk.ttl import TTLLimits
from mount.tokens.store import TokenEntry, TokenStore

__all__ = ["AUTH_TABLE_KEY", "AUTH_TYPES", "AuthMethods", "AuthMount", "sanitize_path"]

logger = logging.getLogger(__name__)


# The auth methods that can be enabled, by type name.
AUTH_TYPES: Mapping[str, BackendFactory] = {
    "approle": auth_approle.factory,
    # Vault's jwt and oidc are one plugin under two type names.
    "jwt": auth_jwt.factory,
    "oidc": auth_jwt.factory,
}
# One record holding every enabled auth mount, as Vault's `core/auth`: a change is one write.
AUTH_TABLE_KEY = "core/auth-table"
BUILTIN_PATHS = ("token/",)


class ViewStore(Storage, Protocol):
    def view(self, prefix: str) -> BatchStorage: ...


@dataclass(frozen=True, slots=True)
class AuthMount:
    """One enabled auth method; `path` is relative to `auth/` and ends with "/"."""

    path: str
    type: str
    description: str
    uuid: str
    accessor: str
    default_lease_ttl: int = 0
    max_lease_ttl: int = 0

    @property
    def mount_path(self) -> str:
        return f"auth/{self.path}"

    @property
    def storage_prefix(self) -> str:
        # By uuid, not path: a method enabled again at the same path starts empty even if
        # the data of the old one could not be deleted.
        return f"auth/{self.uuid}/"

    def to_storage(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> AuthMount:
        return cls(**dict(data))


def sanitize_path(path: str) -> str:
    """Vault's sanitizePath: no leading slash, one trailing slash."""
    return path.strip().strip("/") + "/"


class AuthMethods:
    """Enables and disables auth methods at runtime; the table survives restarts."""

    def __init__(
        self,
        store: ViewStore,
        mounts: MountTable,
        tokens: TokenStore,
        *,
        default_lease_ttl: int,
        max_lease_ttl: int,
        types: Mapping[str, BackendFactory] = AUTH_TYPES,
    ) -> None:
        self._store = store
        self._mounts = mounts
        self._tokens = tokens
        self._default_lease_ttl = default_lease_ttl
        self._max_lease_ttl = max_lease_ttl
        self._types = types
        self._lock = asyncio.Lock()
        tokens.renew_approver = self.approve_renewal

    async def _table(self) -> list[AuthMount]:
        raw = await self._store.get(AUTH_TABLE_KEY)
        return [AuthMount.from_storage(r) for r in raw] if isinstance(raw, list) else []

    async def _save(self, table: list[AuthMount]) -> None:
        await self._store.put(AUTH_TABLE_KEY, [m.to_storage() for m in table])

    async def _backend(self, mount: AuthMount) -> Backend:
        factory = self._types[mount.type]
        return await factory(
            BackendConfig(
                storage=self._store.view(mount.storage_prefix),
                logger=logging.getLogger(f"auth.{mount.path.rstrip('/')}"),
                default_lease_ttl=timedelta(
                    seconds=mount.default_lease_ttl or self._default_lease_ttl
                ),
                max_lease_ttl=timedelta(seconds=mount.max_lease_ttl or self._max_lease_ttl),
                mount_point=mount.mount_path,
            )
        )

    def _mount(self, mount: AuthMount, backend: Backend) -> None:
        self._mounts.add(
            MountEntry(
                path=mount.mount_path,
                type=mount.type,
                backend=backend,
                storage=self._store.view(mount.storage_prefix),
                kind="auth",
                description=mount.description,
                accessor=mount.accessor,
                uuid=mount.uuid,
                default_lease_ttl=mount.default_lease_ttl,
                max_lease_ttl=mount.max_lease_ttl,
            )
        )

    def entry(self, path: str) -> MountEntry | None:
        """The mounted auth method at `auth/<path>` (the token method included)."""
        found = self._mounts.get(f"auth/{sanitize_path(path)}")
        return found if found is not None and found.kind == "auth" else None

    async def approve_renewal(self, token: TokenEntry) -> TTLLimits:
        """Ask the auth method that issued a login token whether it may be renewed.

        As Vault's core routes a token renewal to the method's AuthRenew: the method may
        refuse (its role is gone) or grant its current TTLs; the mount's TTLs bound them.
        """
        entry = self._mounts.mount_of(token.path)
        if entry is None or entry.kind != "auth":
            raise InvalidRequestError(
                f"failed to renew entry: no auth method is mounted at {token.path}"
            )
        auth = LoginSpec(
            policies=token.policies,
            metadata=dict(token.meta or {}),
            ttl=timedelta(seconds=token.creation_ttl),
            max_ttl=timedelta(seconds=token.max_ttl),
            explicit_max_ttl=timedelta(seconds=token.explicit_max_ttl),
            period=timedelta(seconds=token.period),
            num_uses=token.num_uses,
            bound_cidrs=token.bound_cidrs,
            internal=dict(token.internal or {}),
        )
        request = Request(
            operation=Operation.UPDATE,
            path=token.path[len(entry.path) :],
            data={},
            storage=entry.storage,
            mount_point=entry.path,
            identity=token.accessor,
        )
        try:
            granted = await entry.backend.renew_auth(request, auth)
        except VaultError as exc:
            logger.info(
                "token renewal refused mount=%s accessor=%s reason=%s",
                entry.path,
                token.accessor,
                exc.message,
            )
            # Vault answers 500 here; a refusal is no server error, so 400, same words.
            raise InvalidRequestError(f"failed to renew entry: {exc.message}") from exc
        return TTLLimits(
            mount_default=entry.default_lease_ttl or self._default_lease_ttl,
            mount_max=entry.max_lease_ttl or self._max_lease_ttl,
            ttl=int(granted.ttl.total_seconds()),
            max_ttl=int(granted.max_ttl.total_seconds()),
            period=int(granted.period.total_seconds()),
            explicit_max_ttl=token.explicit_max_ttl,
        )

    async def restore(self) -> int:
        """Mount every enabled auth method again after a restart; returns how many."""
        restored = 0
        for mount in await self._table():
            if mount.type not in self._types:
                logger.error(
                    "auth method not mounted: unknown type path=%s type=%s",
                    mount.mount_path,
                    mount.type,
                )
                continue
            self._mount(mount, await self._backend(mount))
            restored += 1
        return restored

    async def enable(
        self,
        path: str,
        type_name: str,
        *,
        description: str = "",
        default_lease_ttl: int = 0,
        max_lease_ttl: int = 0,
    ) -> AuthMount:
        """Mount a new auth method at `auth/<path>`; 409 when the path is taken."""
        path = sanitize_path(path)
        if path == "/":
            raise InvalidRequestError("backend path must be specified")
        if not type_name:
            raise InvalidRequestError("backend type must be specified as a string")
        if type_name == "token":
            raise InvalidRequestError("token credential backend cannot be instantiated")
        if type_name not in self._types:
            raise InvalidRequestError(f"plugin not found in the catalog: {type_name}")
        async with self._lock:
            wanted = f"auth/{path}"
            for entry in self._mounts.entries():
                if entry.kind == "auth" and (
                    entry.path.startswith(wanted) or wanted.startswith(entry.path)
                ):
                    raise ConflictError(
                        f"path is already in use at {entry.path.removeprefix('auth/')}"
                    )
            mount = AuthMount(
                path=path,
                type=type_name,
                description=description,
                uuid=str(uuid.uuid4()),
                accessor=f"auth_{type_name}_{secrets.token_hex(4)}",
                default_lease_ttl=default_lease_ttl,
                max_lease_ttl=max_lease_ttl,
            )
            backend = await self._backend(mount)
            try:
                await self._save([*await self._table(), mount])
            except BaseException:
                await backend.close()
                raise
            self._mount(mount, backend)
        logger.info("auth method enabled path=%s type=%s", mount.mount_path, type_name)
        return mount

    async def disable(self, path: str) -> bool:
        """Unmount `auth/<path>`, revoke the tokens it issued and delete its data.

        Returns False when nothing was mounted there (Vault answers that with success
        too, so as not to reveal which mounts exist).
        """
        path = sanitize_path(path)
        if path in BUILTIN_PATHS:
            raise InvalidRequestError("token credential backend cannot be disabled")
        async with self._lock:
            table = await self._table()
            mount = next((m for m in table if m.path == path), None)
            if mount is None:
                return False
            # Unrouted first, so no login races the revocation below.
            entry = self._mounts.remove(mount.mount_path)
            revoked = await self._tokens.revoke_by_path(mount.mount_path)
            await self._save([m for m in table if m.path != path])
        if entry is not None:
            await entry.backend.close()
        await _clear(self._store.view(mount.storage_prefix))
        logger.info(
            "auth method disabled path=%s type=%s tokens_revoked=%d",
            mount.mount_path,
            mount.type,
            revoked,
        )
        return True


async def _clear(storage: Storage, prefix: str = "") -> None:
    """Delete every key under `prefix` of a view."""
    for child in await storage.list(prefix):
        if child.endswith("/"):
            await _clear(storage, prefix + child)
        else:
            await storage.delete(prefix + child)
