"""The auth table: enable, disable and, at start, restore auth method mounts (`auth/<path>/`)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import Any

from mount.auth import approle as auth_approle
from mount.auth import jwt as auth_jwt
from mount.mounts import (
    MountEntry,
    MountTable,
    ViewStore,
    check_tuned_ttls,
    clear_view,
    sanitize_path,
)
from mount.sdk.errors import ConflictError, InvalidRequestError, VaultError
from mount.sdk.factory import BackendFactory
from mount.sdk.framework import Backend
from mount.sdk.logical import BackendConfig, LoginSpec, Operation, Request
from mount.sdk.ttl import TTLLimits
from mount.tokens.store import TokenEntry, TokenStore

__all__ = [
    "AUTH_TABLE_KEY",
    "AUTH_TYPES",
    "TOKEN_TUNE_KEY",
    "AuthMethods",
    "AuthMount",
    "Tuning",
]

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
# The token method is built in, not in the table: its tuning is stored apart.
TOKEN_TUNE_KEY = "core/auth-tune/token"


@dataclass(frozen=True, slots=True)
class Tuning:
    """What sys/auth/<path>/tune sets; None leaves a setting as it is, 0 is the system's."""

    default_lease_ttl: int | None = None
    max_lease_ttl: int | None = None
    description: str | None = None
    listing_visibility: str | None = None
    token_type: str | None = None

    def changes(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


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
    # Tuned by sys/auth/<path>/tune; kept and shown, "" when never set.
    listing_visibility: str = ""
    token_type: str = "default-service"

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
        # Tuned display settings by mount path (auth/token/ included).
        self._extra: dict[str, dict[str, str]] = {}
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
        self._extra[mount.mount_path] = {
            "listing_visibility": mount.listing_visibility,
            "token_type": mount.token_type,
        }
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

    def tuning(self, path: str) -> dict[str, Any]:
        """sys/auth/<path>/tune as Vault reads it: the mount's TTLs (the system's if unset)."""
        entry = self._require(path)
        extra = self._extra.get(entry.path, {})
        data: dict[str, Any] = {
            "default_lease_ttl": entry.default_lease_ttl or self._default_lease_ttl,
            "description": entry.description,
            "force_no_cache": False,
            "max_lease_ttl": entry.max_lease_ttl or self._max_lease_ttl,
            "token_type": extra.get("token_type") or "default-service",
        }
        if extra.get("listing_visibility"):
            data["listing_visibility"] = extra["listing_visibility"]
        return data

    def _require(self, path: str) -> MountEntry:
        entry = self.entry(path)
        if entry is None:
            raise InvalidRequestError(
                f"cannot tune auth/{sanitize_path(path)}: no auth method is enabled there "
                "(see `bao auth list`)"
            )
        return entry

    async def tune(self, path: str, tuning: Tuning) -> None:
        """Change an auth mount's TTLs, description and display settings; stored.

        Tokens the method issues from now on get the new TTLs (the core reads them from
        the mount entry at each login and renewal); tokens already issued keep theirs.
        """
        async with self._lock:
            entry = self._require(path)
            extra = self._extra.setdefault(entry.path, {})
            default_ttl = _pick(tuning.default_lease_ttl, entry.default_lease_ttl)
            max_ttl = _pick(tuning.max_lease_ttl, entry.max_lease_ttl)
            check_tuned_ttls(default_ttl, max_ttl)
            changes = tuning.changes()
            if entry.path == "auth/token/":
                record = {
                    "default_lease_ttl": default_ttl,
                    "max_lease_ttl": max_ttl,
                    "description": changes.get("description", entry.description),
                    "listing_visibility": changes.get(
                        "listing_visibility", extra.get("listing_visibility", "")
                    ),
                    "token_type": changes.get("token_type", extra.get("token_type", "")),
                }
                await self._store.put(TOKEN_TUNE_KEY, record)
                self._apply_token_tuning(entry, record)
            else:
                table = await self._table()
                updated = [
                    replace(
                        m, **{**changes, "default_lease_ttl": default_ttl, "max_lease_ttl": max_ttl}
                    )
                    if m.mount_path == entry.path
                    else m
                    for m in table
                ]
                await self._save(updated)
                for mount in updated:
                    if mount.mount_path == entry.path:
                        self._apply(entry, mount)
        logger.info(
            "auth method tuned path=%s default_lease_ttl=%d max_lease_ttl=%d",
            entry.path,
            entry.default_lease_ttl,
            entry.max_lease_ttl,
        )

    def _apply(self, entry: MountEntry, mount: AuthMount) -> None:
        entry.default_lease_ttl = mount.default_lease_ttl
        entry.max_lease_ttl = mount.max_lease_ttl
        entry.description = mount.description
        self._extra[entry.path] = {
            "listing_visibility": mount.listing_visibility,
            "token_type": mount.token_type,
        }

    def _apply_token_tuning(self, entry: MountEntry, record: Mapping[str, Any]) -> None:
        entry.default_lease_ttl = int(record.get("default_lease_ttl") or 0)
        entry.max_lease_ttl = int(record.get("max_lease_ttl") or 0)
        entry.description = str(record.get("description") or entry.description)
        self._extra[entry.path] = {
            "listing_visibility": str(record.get("listing_visibility") or ""),
            "token_type": str(record.get("token_type") or ""),
        }
        self._tokens.tune(entry.default_lease_ttl, entry.max_lease_ttl)

    async def restore(self) -> int:
        """Mount every enabled auth method again after a restart; returns how many."""
        token_mount = self._mounts.get("auth/token/")
        tuned = await self._store.get(TOKEN_TUNE_KEY)
        if token_mount is not None and isinstance(tuned, dict):
            self._apply_token_tuning(token_mount, tuned)
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
        await clear_view(self._store.view(mount.storage_prefix))
        logger.info(
            "auth method disabled path=%s type=%s tokens_revoked=%d",
            mount.mount_path,
            mount.type,
            revoked,
        )
        return True


def _pick(given: int | None, current: int) -> int:
    return current if given is None else given
