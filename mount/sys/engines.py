"""The secrets engine table: enable, tune, disable and, at start, restore engine mounts.

As Vault's `core/mounts`: one stored record holds every enabled secrets engine, so a
change is one write and a restart mounts them all again. The engine types that can be
enabled are a mapping handed in by the composition root (mount/run.py: `entra`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any

from mount.leases.manager import LeaseManager
from mount.mounts import (
    MountEntry,
    MountTable,
    ViewStore,
    check_tuned_ttls,
    clear_view,
    sanitize_path,
)
from mount.sdk.errors import ConflictError, InvalidRequestError, PermissionDeniedError, VaultError
from mount.sdk.factory import BackendFactory
from mount.sdk.framework import Backend
from mount.sdk.logical import BackendConfig
from mount.sdk.ratelimit import issue_limit_options
from mount.sdk.telemetry import MetricSpec, MetricsSink

__all__ = [
    "ENGINE_TABLE_KEY",
    "PROTECTED_PATHS",
    "DefaultEngine",
    "EngineSettings",
    "MountMetrics",
    "SecretMount",
    "SecretsEngines",
]

logger = logging.getLogger(__name__)

# One record holding every enabled secrets engine and the default mounts once created.
ENGINE_TABLE_KEY = "core/mounts-table"
# Vault's protectedMounts: paths no secrets engine may be mounted under or disabled at.
PROTECTED_PATHS = ("audit/", "auth/", "sys/", "cubbyhole/", "identity/")
# Types Vault mounts once by itself (its singletonMounts).
SINGLETON_TYPES = ("system", "token", "cubbyhole", "identity")


@dataclass(frozen=True, slots=True)
class SecretMount:
    """One enabled secrets engine; `path` ends with "/" (entra-prod/)."""

    path: str
    type: str
    description: str
    uuid: str
    accessor: str
    default_lease_ttl: int = 0
    max_lease_ttl: int = 0
    options: dict[str, str] = field(default_factory=dict)

    @property
    def storage_prefix(self) -> str:
        return f"logical/{self.path}"

    def to_storage(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> SecretMount:
        return cls(**dict(data))


@dataclass(frozen=True, slots=True)
class DefaultEngine:
    """A mount the server creates at its first start (`entra/`), from then on stored."""

    path: str
    type: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """The server-wide values every engine mount is built with."""

    default_lease_ttl: int
    max_lease_ttl: int
    role_issue_limit: int = 0
    role_issue_interval: float = 60.0


class MountMetrics:
    """A mount's view of the metrics sink: every series it declares carries `mount`.

    Two mounts of the same engine export separate series (mount="entra/" and
    mount="entra-prod/") of the same families.
    """

    def __init__(self, sink: MetricsSink, mount: str) -> None:
        self._sink = sink
        self._mount = mount

    def declare(self, specs: Iterable[MetricSpec]) -> None:
        self._sink.declare(
            replace(spec, labels=spec.labels if "mount" in spec.labels else ("mount", *spec.labels))
            for spec in specs
        )

    def _labels(self, labels: Mapping[str, str] | None) -> dict[str, str]:
        return {"mount": self._mount, **(labels or {})}

    def incr(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        self._sink.incr(name, self._labels(labels), value)

    def observe(self, name: str, labels: Mapping[str, str] | None, value: float) -> None:
        self._sink.observe(name, self._labels(labels), value)


class SecretsEngines:
    """Enables, tunes and disables secrets engines at runtime; the table survives restarts."""

    def __init__(
        self,
        store: ViewStore,
        mounts: MountTable,
        leases: LeaseManager,
        settings: EngineSettings,
        types: Mapping[str, BackendFactory],
        metrics: MetricsSink | None = None,
    ) -> None:
        # None: the engines report to no sink (NullSink)
        self._store = store
        self._mounts = mounts
        self._leases = leases
        self._settings = settings
        self._types = dict(types)
        self._metrics = metrics
        self._lock = asyncio.Lock()

    @property
    def system_max_lease_ttl(self) -> int:
        return self._settings.max_lease_ttl

    @property
    def types(self) -> list[str]:
        return sorted(self._types)

    # -- the stored table ---------------------------------------------------------------

    async def _record(self) -> tuple[list[SecretMount], list[str]]:
        raw = await self._store.get(ENGINE_TABLE_KEY)
        if not isinstance(raw, dict):
            return [], []
        table = [SecretMount.from_storage(r) for r in raw.get("mounts", [])]
        return table, [str(p) for p in raw.get("defaults", [])]

    async def _save(self, table: list[SecretMount], defaults: list[str]) -> None:
        await self._store.put(
            ENGINE_TABLE_KEY,
            {"mounts": [m.to_storage() for m in table], "defaults": sorted(set(defaults))},
        )

    async def table(self) -> list[SecretMount]:
        return (await self._record())[0]

    # -- building -------------------------------------------------------------------------

    async def _backend(self, mount: SecretMount) -> Backend:
        settings = self._settings
        extra: dict[str, Any] = {}
        if self._metrics is not None:
            extra["metrics"] = MountMetrics(self._metrics, mount.path)
        return await self._types[mount.type](
            BackendConfig(
                **extra,
                storage=self._store.view(mount.storage_prefix),
                logger=logging.getLogger(f"engine.{mount.path.rstrip('/')}"),
                default_lease_ttl=timedelta(
                    seconds=mount.default_lease_ttl or settings.default_lease_ttl
                ),
                max_lease_ttl=timedelta(seconds=mount.max_lease_ttl or settings.max_lease_ttl),
                mount_point=mount.path,
                config={
                    **mount.options,
                    **issue_limit_options(settings.role_issue_limit, settings.role_issue_interval),
                },
            )
        )

    def _entry(self, mount: SecretMount, backend: Backend) -> MountEntry:
        return MountEntry(
            path=mount.path,
            type=mount.type,
            backend=backend,
            storage=self._store.view(mount.storage_prefix),
            kind="secret",
            description=mount.description,
            accessor=mount.accessor,
            uuid=mount.uuid,
            default_lease_ttl=mount.default_lease_ttl,
            max_lease_ttl=mount.max_lease_ttl,
            options=dict(mount.options) or None,
        )

    # -- start ------------------------------------------------------------------------------

    async def restore(self, defaults: Iterable[DefaultEngine] = ()) -> int:
        """Mount every stored engine again, then create the defaults never created yet.

        A default mount (`entra/`) is created once, at the first start of a storage; from
        then on it lives in the stored table like any other, so one disabled stays so.
        """
        async with self._lock:
            table, created = await self._record()
            restored = 0
            for mount in table:
                if mount.type not in self._types:
                    logger.error(
                        "secrets engine not mounted: unknown type path=%s type=%s",
                        mount.path,
                        mount.type,
                    )
                    continue
                self._mounts.add(self._entry(mount, await self._backend(mount)))
                restored += 1
            added = False
            for default in defaults:
                if default.path in created:
                    continue
                created.append(default.path)
                added = True
                if any(m.path == default.path for m in table):
                    continue
                mount = await self._default_mount(default)
                self._mounts.add(self._entry(mount, await self._backend(mount)))
                table.append(mount)
                restored += 1
            if added:
                await self._save(table, created)
        return restored

    async def _default_mount(self, default: DefaultEngine) -> SecretMount:
        # A storage from before the stored table kept the mount's ids here.
        found = await self._store.get(f"core/mounts/{default.path.rstrip('/')}")
        ids = found if isinstance(found, dict) else {}
        return SecretMount(
            path=default.path,
            type=default.type,
            description=default.description,
            uuid=str(ids.get("uuid") or uuid.uuid4()),
            accessor=str(ids.get("accessor") or _accessor(default.type)),
        )

    # -- enable -------------------------------------------------------------------------

    def _check_new_path(self, path: str) -> None:
        for protected in PROTECTED_PATHS:
            if path.startswith(protected):
                raise PermissionDeniedError(f'cannot mount "{path}"')
        for entry in self._mounts.entries():
            if entry.path.startswith(path) or path.startswith(entry.path):
                raise ConflictError(f"path is already in use at {entry.path}")

    def _check_type(self, type_name: str) -> None:
        if not type_name:
            raise InvalidRequestError("backend type must be specified as a string")
        if type_name in SINGLETON_TYPES:
            raise PermissionDeniedError(f'mount type of "{type_name}" is not mountable')
        if type_name not in self._types:
            raise InvalidRequestError(
                f"plugin not found in the catalog: {type_name}; this server's secrets "
                f"engines are not plugins, available types: {', '.join(self.types)}"
            )

    async def enable(
        self,
        path: str,
        type_name: str,
        *,
        description: str = "",
        default_lease_ttl: int = 0,
        max_lease_ttl: int = 0,
        options: Mapping[str, str] | None = None,
    ) -> SecretMount:
        """Mount a new engine at `path`; 409 when the path is taken, 400 for a bad type."""
        path = sanitize_path(path)
        if path == "/":
            raise InvalidRequestError("backend path must be specified")
        self._check_type(type_name)
        async with self._lock:
            self._check_new_path(path)
            mount = SecretMount(
                path=path,
                type=type_name,
                description=description,
                uuid=str(uuid.uuid4()),
                accessor=_accessor(type_name),
                default_lease_ttl=default_lease_ttl,
                max_lease_ttl=max_lease_ttl,
                options=dict(options or {}),
            )
            # Whatever an earlier mount at this path left (a disable that failed half
            # way) is not this one's.
            await clear_view(self._store.view(mount.storage_prefix))
            backend = await self._backend(mount)
            table, defaults = await self._record()
            try:
                await self._save([*table, mount], defaults)
            except BaseException:
                await backend.close()
                raise
            self._mounts.add(self._entry(mount, backend))
        logger.info("secrets engine enabled path=%s type=%s", path, type_name)
        return mount

    # -- tune ---------------------------------------------------------------------------

    def stored(self, path: str) -> bool:
        entry = self._mounts.get(sanitize_path(path))
        return entry is not None and entry.kind == "secret" and not entry.builtin

    async def tune(
        self,
        path: str,
        *,
        default_lease_ttl: int | None = None,
        max_lease_ttl: int | None = None,
        description: str | None = None,
    ) -> SecretMount:
        """Change a mount's TTLs or description; the engine is rebuilt with the new TTLs."""
        path = sanitize_path(path)
        async with self._lock:
            table, defaults = await self._record()
            old = next((m for m in table if m.path == path), None)
            if old is None:
                raise InvalidRequestError(f'tune of path "{path}" failed: no mount entry found')
            new_default = old.default_lease_ttl if default_lease_ttl is None else default_lease_ttl
            new_max = old.max_lease_ttl if max_lease_ttl is None else max_lease_ttl
            check_tuned_ttls(new_default, new_max)
            mount = replace(
                old,
                default_lease_ttl=new_default,
                max_lease_ttl=new_max,
                description=old.description if description is None else description,
            )
            ttls_changed = (new_default, new_max) != (old.default_lease_ttl, old.max_lease_ttl)
            current = self._mounts.get(path)
            backend = await self._backend(mount) if ttls_changed or current is None else None
            try:
                await self._save([mount if m.path == path else m for m in table], defaults)
            except BaseException:
                if backend is not None:
                    await backend.close()
                raise
            if backend is None and current is not None:
                backend = current.backend
            assert backend is not None
            self._mounts.add(self._entry(mount, backend))
        if current is not None and current.backend is not backend:
            await current.backend.close()
        logger.info(
            "secrets engine tuned path=%s default_lease_ttl=%d max_lease_ttl=%d",
            path,
            new_default,
            new_max,
        )
        return mount

    # -- disable ------------------------------------------------------------------------

    async def disable(self, path: str) -> bool:
        """Revoke the mount's leases, then unmount it and delete its data.

        As Vault: if a lease cannot be revoked the disable fails and the mount stays.
        Returns False when nothing was mounted there (answered with success too).
        """
        path = sanitize_path(path)
        for protected in PROTECTED_PATHS:
            if path.startswith(protected):
                raise InvalidRequestError(f'cannot unmount "{path}"')
        async with self._lock:
            table, defaults = await self._record()
            mount = next((m for m in table if m.path == path), None)
            if mount is None:
                return False
            try:
                await self._leases.revoke_prefix(path, sync=True)
            except VaultError as exc:
                raise InvalidRequestError(
                    f"failed to revoke the leases of {path}, so it stays mounted: "
                    f"{exc.message}; retry the disable, or revoke them with "
                    f"sys/leases/revoke-force/{path} first"
                ) from None
            left = await self._leases.matching(path)
            if left:
                raise InvalidRequestError(
                    f"{len(left)} leases of {path} were issued while it was being disabled, "
                    "so it stays mounted; retry the disable"
                )
            entry = self._mounts.remove(path)
            await self._save([m for m in table if m.path != path], defaults)
        if entry is not None:
            await entry.backend.close()
        await clear_view(self._store.view(mount.storage_prefix))
        logger.info("secrets engine disabled path=%s type=%s", path, mount.type)
        return True


def _accessor(type_name: str) -> str:
    return f"{type_name}_{secrets.token_hex(4)}"
