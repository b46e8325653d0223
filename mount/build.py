"""Building the core from its parts: storage views, tokens, policies, leases, audit, mounts."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from mount.audit.broker import AuditBroker
from mount.audit.device import DeclaredDevice
from mount.auth.methods import AUTH_TYPES, AuthMethods
from mount.auth.token import paths as token_paths
from mount.core import Core, CoreSettings
from mount.leases.gauges import LeaseGauges
from mount.leases.manager import LeaseManager
from mount.leases.revocation import SecretResolver
from mount.metrics import BrokerMetrics
from mount.mounts import MountEntry, MountTable
from mount.policy.store import PolicyStore
from mount.sdk.factory import BackendFactory
from mount.sdk.framework import Backend, SpecialPaths
from mount.sdk.logical import BatchStorage, Storage
from mount.sdk.telemetry import CREDS_ISSUED
from mount.seal import Seal
from mount.storage.barrier import key_fingerprint
from mount.sys.audit import SUDO_PATHS as AUDIT_SUDO_PATHS
from mount.sys.audit import paths as audit_paths
from mount.sys.auth import paths as sys_auth_paths
from mount.sys.auth import tune_paths as auth_tune_paths
from mount.sys.backend import paths as sys_paths
from mount.sys.engines import DefaultEngine, EngineSettings, SecretsEngines
from mount.sys.leases import paths as lease_paths
from mount.sys.metrics import paths as metrics_paths
from mount.sys.mounts import paths as sys_mount_paths
from mount.sys.operator import UNAUTHENTICATED_PATHS as OPERATOR_OPEN_PATHS
from mount.sys.operator import paths as operator_paths
from mount.sys.plugins import Catalog
from mount.sys.plugins import paths as plugin_paths
from mount.sys.policy import paths as policy_paths
from mount.sys.seal import SUDO_PATHS as SEAL_SUDO_PATHS
from mount.sys.seal import UNAUTHENTICATED_PATHS as SEAL_OPEN_PATHS
from mount.sys.seal import paths as seal_paths
from mount.sys.wrapping import UNAUTHENTICATED as WRAPPING_UNAUTHENTICATED
from mount.sys.wrapping import paths as wrapping_paths
from mount.tokens.cubbyhole import Cubbyholes
from mount.tokens.store import TokenEntry, TokenStore
from mount.tokens.wrapping import Wrapping

__all__ = ["BrokerOptions", "EngineMount", "Store", "build_core", "ensure_root_token"]

logger = logging.getLogger("mount.http.app")


class Store(Storage, Protocol):
    """The physical store under every view (TinyDB by default)."""

    def view(self, prefix: str) -> BatchStorage: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineMount:
    """A secrets engine mounted at the first start: path (`entra/`), type, factory and
    description. From then on the mount lives in the stored table (sys/mounts)."""

    path: str
    type: str
    factory: BackendFactory
    description: str = ""


@dataclass(slots=True)
class BrokerOptions:
    store: Store
    settings: CoreSettings = field(default_factory=CoreSettings)
    engines: list[EngineMount] = field(default_factory=list)
    # The types `sys/mounts/<path>` can enable, by name; None: those of `engines`.
    engine_types: dict[str, BackendFactory] | None = None
    # Audit devices declared in the config file, enabled at start.
    audit_devices: tuple[DeclaredDevice, ...] = ()
    # Files no audit device may write (the storage's, the seal key), with what each is.
    reserved_files: dict[Path, str] = field(default_factory=dict)
    # The seal key's fingerprint (mount.storage.barrier): sys/unseal checks keys against it.
    seal_fingerprint: str | None = None
    # Where lease times are read from; tests that compare TTLs with a capture pass a fixed one.
    clock: Callable[[], float] = time.time


async def _cluster_id(store: Store) -> str:
    """A stable id for this storage, shown by sys/health and `bao status`."""
    found = await store.get("core/cluster-id")
    if isinstance(found, str):
        return found
    cluster_id = str(uuid.uuid4())
    await store.put("core/cluster-id", cluster_id)
    return cluster_id


async def build_core(options: BrokerOptions) -> Core:
    """Wire storage, tokens, leases and mounts; starts restoring the leases in the background.

    The lease restore task runs until every stored lease is in memory (requests meanwhile
    are served: see LeaseManager.start_restore); `create_app`'s cleanup cancels it.
    """
    store, settings = options.store, options.settings
    if not settings.cluster_id:
        settings = replace(settings, cluster_id=await _cluster_id(store))
    tokens = TokenStore(
        store.view("sys/"),
        max_ttl=settings.max_lease_ttl,
        default_ttl=settings.default_lease_ttl,
    )
    policies = PolicyStore(store.view("sys/"))
    await policies.ensure_default()
    core: Core
    metrics = BrokerMetrics()
    leases = _lease_manager(
        options, settings, metrics, lambda mount, kind: core.resolve_secret(mount, kind)
    )
    audit = AuditBroker(store.view("sys/audit/"), options.reserved_files)
    await audit.load(options.audit_devices)
    core = Core(
        settings=settings,
        mounts=MountTable(),
        tokens=tokens,
        leases=leases,
        policies=policies,
        audit=audit,
        metrics=metrics,
        # Cubbyholes are under the barrier like all storage; a token's goes with it.
        wrapping=Wrapping(tokens, Cubbyholes(store.view("sys/cubbyhole/"))),
        seal=Seal(options.seal_fingerprint, key_fingerprint),
    )

    async def revoke_leases_of(entry: TokenEntry) -> None:
        await leases.revoke_by_token(entry.accessor)

    tokens.on_revoke.append(revoke_leases_of)
    tokens.on_revoke.append(core.wrapping.cubbyholes.drop)
    auth_methods = AuthMethods(
        store,
        core.mounts,
        tokens,
        default_lease_ttl=settings.default_lease_ttl,
        max_lease_ttl=settings.max_lease_ttl,
    )
    engines = _secrets_engines(options, core)
    catalog = Catalog(
        secret=tuple(engines.types),
        auth=(*AUTH_TYPES, "token"),
        version=settings.version,
    )
    await _mount_builtins(store, core, auth_methods, engines, catalog)
    await _restore_mounts_and_tokens(options, engines, auth_methods, tokens)
    # Last: the restore task must not race the set-up above for the event loop.
    await leases.start_restore()
    return core


async def _restore_mounts_and_tokens(
    options: BrokerOptions,
    engines: SecretsEngines,
    auth_methods: AuthMethods,
    tokens: TokenStore,
) -> None:
    """Mount the stored (and default) engines and auth methods, then load the tokens."""
    restored_engines = await engines.restore(
        DefaultEngine(e.path, e.type, e.description) for e in options.engines
    )
    logger.info("secrets engines restored count=%d", restored_engines)
    restored = await auth_methods.restore()
    logger.info("auth methods restored count=%d", restored)
    logger.info("tokens restored count=%d", await tokens.load())


async def _mount_builtins(
    store: Store,
    core: Core,
    auth_methods: AuthMethods,
    engines: SecretsEngines,
    catalog: Catalog,
) -> None:
    """sys/ and auth/token/: the host's own backends, the only ones told their caller."""
    await _mount(
        store,
        core.mounts,
        "sys/",
        "system",
        _system_backend(core, auth_methods, engines, catalog),
        "secret",
        "system endpoints used for control, policy and debugging",
        builtin=True,
    )
    await _mount(
        store,
        core.mounts,
        "auth/token/",
        "token",
        _token_backend(core),
        "auth",
        "token based credentials",
        builtin=True,
    )


def _secrets_engines(options: BrokerOptions, core: Core) -> SecretsEngines:
    """The secrets engine table, with the types it may enable."""
    types = options.engine_types
    if types is None:
        types = {e.type: e.factory for e in options.engines}
    leases = core.settings.leases
    return SecretsEngines(
        options.store,
        core.mounts,
        core.leases,
        EngineSettings(
            default_lease_ttl=core.settings.default_lease_ttl,
            max_lease_ttl=core.settings.max_lease_ttl,
            role_issue_limit=leases.role_issue_limit,
            role_issue_interval=leases.role_issue_interval,
        ),
        types,
        metrics=core.metrics,
    )


def _lease_manager(
    options: BrokerOptions,
    settings: CoreSettings,
    metrics: BrokerMetrics,
    resolve: SecretResolver,
) -> LeaseManager:
    leases = LeaseManager(
        options.store.view("sys/"),
        resolve,
        settings.leases,
        metrics=metrics,
        clock=options.clock,
    )
    metrics.add_gauge_source(
        LeaseGauges(leases.all, lambda: metrics.label_sets(CREDS_ISSUED), leases.is_restored)
    )
    return leases


async def _mount(
    store: Store,
    mounts: MountTable,
    path: str,
    type_: str,
    backend: Backend,
    kind: str,
    description: str,
    builtin: bool = False,
) -> None:
    # A mount keeps its uuid and accessor across restarts; they are stored once.
    key = f"core/mounts/{path.rstrip('/')}"
    found = await store.get(key)
    ids = found if isinstance(found, dict) else {}
    entry = MountEntry(
        path=path,
        type=type_,
        backend=backend,
        storage=store.view(f"logical/{path}"),
        kind=kind,
        description=description,
        uuid=str(ids.get("uuid") or uuid.uuid4()),
        accessor=str(ids.get("accessor") or ""),
        builtin=builtin,
    )
    if not ids:
        await store.put(key, {"uuid": entry.uuid, "accessor": entry.accessor})
    mounts.add(entry)


def _system_backend(
    core: Core, auth_methods: AuthMethods, engines: SecretsEngines, catalog: Catalog
) -> Backend:
    return Backend(
        auth_tune_paths(auth_methods)  # first: sys/mounts/<path>/tune would take it
        + sys_paths(core)
        + sys_mount_paths(core, engines)
        + seal_paths(core)
        + plugin_paths(catalog)
        + operator_paths()
        + lease_paths(core)
        + policy_paths(core)
        + audit_paths(core.audit)
        + sys_auth_paths(auth_methods)
        + metrics_paths(core)
        + wrapping_paths(core),
        help_text=SYS_HELP,
        type_name="system",
        # Policy names are stored lowercased, as in Vault.
        case_insensitive=("name",),
        special_paths=SpecialPaths(
            # Reachable without a token, as in Vault.
            unauthenticated=(
                "health",
                "seal-status",
                "leader",
                *WRAPPING_UNAUTHENTICATED,
                *SEAL_OPEN_PATHS,
                *OPERATOR_OPEN_PATHS,
            ),
            # Vault's root-protected system paths that this broker serves.
            sudo=(
                *AUDIT_SUDO_PATHS,
                *SEAL_SUDO_PATHS,
                "auth/*",
                "rotate",
                "leases",
                "leases/lookup/*",
                "leases/revoke-prefix/*",
                "leases/revoke-force/*",
                "revoke-prefix/*",
                "revoke-force/*",
            ),
        ),
    )


def _token_backend(core: Core) -> Backend:
    return Backend(
        token_paths(core),
        help_text=TOKEN_HELP,
        type_name="token",
        special_paths=SpecialPaths(sudo=("revoke-orphan", "revoke-orphan/*", "accessors*")),
    )


async def ensure_root_token(core: Core, token_id: str | None = None) -> str | None:
    """Create the root token on first start (or the dev token); None if one exists already.

    The root token is shown once; only its hash is stored.
    """
    if token_id is None and await core.tokens.root_created():
        return None
    if token_id is not None and await core.tokens.lookup(token_id) is not None:
        return token_id
    token, _ = await core.tokens.create(
        policies=["root"], ttl=0, token_id=token_id, display_name="root"
    )
    await core.tokens.mark_root_created()
    return token


SYS_HELP = """\
The system backend: the server's health, its mounts and auth methods, leases (lookup,
renew, revoke, tidy), policies and capabilities, audit devices, metrics and the OpenAPI
document of every path."""


TOKEN_HELP = """\
The token store: create tokens with policies and TTLs, look them up, renew and revoke
them (with their children and their leases), by the token itself or by its accessor."""
