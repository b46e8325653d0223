"""AppRoleBackend: joins the AppRole path table and owns its stored roles and secret ids."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from mount.auth.approle import path_login, path_role, path_secret_id, path_tidy
from mount.auth.approle.models import (
    ACCESSOR_PREFIX,
    ROLE_PREFIX,
    SECRET_ID_PREFIX,
    Role,
    SecretId,
    role_id_key,
    secret_id_key,
)
from mount.sdk import Backend, BackendConfig, LoginSpec, Request, Response, Storage
from mount.sdk.framework import SpecialPaths

__all__ = ["AppRoleBackend", "factory"]

logger = logging.getLogger(__name__)

# How often expired secret ids are swept out of storage (Vault's periodic tidy).
TIDY_INTERVAL = 60.0
_LOCK_STRIPES = 256


async def factory(conf: BackendConfig) -> Backend:
    return AppRoleBackend(conf)


class AppRoleBackend(Backend):
    """The AppRole auth method: role/<name>, its role-id and secret-ids, and login.

    Role writes are serialized by one lock (they are rare and must keep role ids
    unique); each secret id has a striped lock, so that counting down its uses is
    atomic: of concurrent logins with a one-use secret id, exactly one succeeds.
    """

    def __init__(self, conf: BackendConfig) -> None:
        self.conf = conf
        self.role_lock = asyncio.Lock()
        self._secret_locks = [asyncio.Lock() for _ in range(_LOCK_STRIPES)]
        self._last_tidy = time.monotonic()
        self._tidy_task: asyncio.Task[int] | None = None
        super().__init__(
            paths=[
                *path_role.paths(self),
                *path_secret_id.paths(self),
                *path_login.paths(self),
                *path_tidy.paths(self),
            ],
            help_text=BACKEND_HELP,
            type_name="approle",
            # Role names are case-insensitive, as in Vault: stored and found lowercased.
            case_insensitive=("role_name",),
            # Logging in is how a client gets a token in the first place.
            special_paths=SpecialPaths(unauthenticated=("login",)),
        )

    @property
    def max_lease_ttl(self) -> int:
        return int(self.conf.max_lease_ttl.total_seconds())

    async def handle(self, request: Request) -> Response | None:
        self._maybe_start_tidy()
        return await super().handle(request)

    async def renew_auth(self, request: Request, auth: LoginSpec) -> LoginSpec:
        return await path_login.renew(self, request, auth)

    async def close(self) -> None:
        if self._tidy_task is not None:
            self._tidy_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tidy_task

    def secret_lock(self, digest: str) -> asyncio.Lock:
        return self._secret_locks[hash(digest) % _LOCK_STRIPES]

    # -- roles ------------------------------------------------------------------------

    async def load_role(self, storage: Storage, name: str) -> Role | None:
        if not valid_key_part(name):
            return None  # no role can have such a name (role_write refuses it)
        raw = await storage.get(ROLE_PREFIX + name.lower())
        return None if raw is None else Role.from_storage(raw)

    async def role_by_role_id(self, storage: Storage, role_id: str) -> Role | None:
        index = await storage.get(role_id_key(role_id))
        if not isinstance(index, dict) or not isinstance(index.get("name"), str):
            return None
        role = await self.load_role(storage, index["name"])
        # A stale index (the role's id changed) must not log anyone in.
        return role if role is not None and role.role_id == role_id else None

    async def role_id_owner(self, storage: Storage, role_id: str) -> str | None:
        index = await storage.get(role_id_key(role_id))
        return index.get("name") if isinstance(index, dict) else None

    async def save_role(self, storage: Storage, role: Role, previous_role_id: str) -> None:
        """Store the role and its role-id index in one batch (caller holds role_lock)."""
        items: dict[str, Any | None] = {
            ROLE_PREFIX + role.name: role.to_storage(),
            role_id_key(role.role_id): {"name": role.name},
        }
        if previous_role_id and previous_role_id != role.role_id:
            items[role_id_key(previous_role_id)] = None
        await write_batch(storage, items)

    async def delete_role(self, storage: Storage, role: Role) -> None:
        """Remove the role with every secret id issued for it (caller holds role_lock)."""
        for digest in await storage.list(f"{SECRET_ID_PREFIX}{role.name}/"):
            async with self.secret_lock(digest):
                await self.delete_secret_id(storage, role.name, digest)
        await write_batch(storage, {ROLE_PREFIX + role.name: None, role_id_key(role.role_id): None})

    # -- secret ids -------------------------------------------------------------------

    def derived_secret_id_ttl(self, ttl: int) -> int:
        """The TTL a secret id really gets: 0 (none) stays, the mount's max caps the rest."""
        return self.max_lease_ttl if ttl < 0 or ttl > self.max_lease_ttl else ttl

    async def load_secret_id(self, storage: Storage, role: str, digest: str) -> SecretId | None:
        raw = await storage.get(secret_id_key(role, digest))
        return None if raw is None else SecretId.from_storage(raw)

    async def live_secret_id(self, storage: Storage, role: str, digest: str) -> SecretId | None:
        """The secret id with this HMAC if usable; an expired one is deleted (lock held)."""
        entry = await self.load_secret_id(storage, role, digest)
        if entry is None:
            return None
        # A secret id whose accessor entry is gone was half-deleted: finish the job.
        orphaned = await storage.get(ACCESSOR_PREFIX + entry.accessor) is None
        if entry.expired(time.time()) or orphaned:
            await self.delete_secret_id(storage, role, digest)
            return None
        return entry

    async def write_secret_id(self, storage: Storage, digest: str, entry: SecretId) -> None:
        """Store a secret id with its accessor entry, in one batch (lock held)."""
        await write_batch(
            storage,
            {
                ACCESSOR_PREFIX + entry.accessor: {"role": entry.role, "secret_id_hmac": digest},
                secret_id_key(entry.role, digest): entry.to_storage(),
            },
        )

    async def delete_secret_id(self, storage: Storage, role: str, digest: str) -> None:
        entry = await self.load_secret_id(storage, role, digest)
        items: dict[str, Any | None] = {secret_id_key(role, digest): None}
        if entry is not None:
            items[ACCESSOR_PREFIX + entry.accessor] = None
        await write_batch(storage, items)

    async def by_accessor(self, storage: Storage, role: Role, accessor: str) -> str | None:
        """The HMAC of the secret id an accessor names, if it belongs to `role`."""
        if not valid_key_part(accessor):
            return None
        raw = await storage.get(ACCESSOR_PREFIX + accessor)
        if not isinstance(raw, dict) or raw.get("role") != role.name:
            return None
        digest = raw.get("secret_id_hmac")
        return digest if isinstance(digest, str) else None

    # -- tidy -------------------------------------------------------------------------

    def _maybe_start_tidy(self) -> None:
        now = time.monotonic()
        if now - self._last_tidy < TIDY_INTERVAL:
            return
        if self._tidy_task is not None and not self._tidy_task.done():
            return
        self._last_tidy = now
        self._tidy_task = asyncio.create_task(self._tidy_logged())

    async def _tidy_logged(self) -> int:
        try:
            return await self.tidy(self.conf.storage)
        except Exception:
            logger.exception("approle tidy failed mount=%s", self.conf.mount_point)
            return 0

    async def tidy(self, storage: Storage) -> int:
        """Delete expired secret ids and accessors whose secret id is gone; returns how many."""
        removed = 0
        now = time.time()
        for folder in await storage.list(SECRET_ID_PREFIX):
            role = folder.rstrip("/")
            for digest in await storage.list(f"{SECRET_ID_PREFIX}{role}/"):
                async with self.secret_lock(digest):
                    entry = await self.load_secret_id(storage, role, digest)
                    if entry is not None and entry.expired(now):
                        await self.delete_secret_id(storage, role, digest)
                        removed += 1
        for accessor in await storage.list(ACCESSOR_PREFIX):
            raw = await storage.get(ACCESSOR_PREFIX + accessor)
            if not isinstance(raw, dict):
                continue
            role, digest = str(raw.get("role", "")), str(raw.get("secret_id_hmac", ""))
            async with self.secret_lock(digest):
                if await storage.get(secret_id_key(role, digest)) is None:
                    await storage.delete(ACCESSOR_PREFIX + accessor)
                    removed += 1
        if removed:
            logger.info("approle tidy removed=%d mount=%s", removed, self.conf.mount_point)
        return removed


def valid_key_part(text: str) -> bool:
    """Whether `text` can be one segment of a storage key (the store refuses `..`)."""
    return bool(text) and ".." not in text and "/" not in text


async def write_batch(storage: Storage, items: Mapping[str, Any | None]) -> None:
    """Write several keys at once where the store can (None deletes), else one by one."""
    put_many = getattr(storage, "put_many", None)
    if put_many is not None:
        await put_many(items)
        return
    for key, value in items.items():
        if value is None:
            await storage.delete(key)
        else:
            await storage.put(key, value)


BACKEND_HELP = """\
The AppRole auth method lets machines and apps log in with a role id and a secret id,
as Vault's approle: an operator creates a role (the token policies and TTLs it grants),
hands its role id to the app and delivers a secret id separately; the app logs in at
login and gets a service token."""
