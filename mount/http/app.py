"""The aiohttp application: builds the core from its parts and serves `/v1/`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Protocol, TypedDict

from aiohttp import web

from mount.audit.broker import AuditBroker
from mount.audit.device import DeclaredDevice
from mount.auth.methods import AuthMethods
from mount.auth.token import paths as token_paths
from mount.core import Core, CoreSettings
from mount.http.envelope import parse_request, render
from mount.http.errors import error_middleware
from mount.http.list_method import enable_list_method
from mount.http.metrics import request_metrics_middleware
from mount.leases.expiry import ExpiryWorker
from mount.leases.manager import LeaseManager, LeaseSettings
from mount.metrics import BrokerMetrics, LeaseGauges
from mount.mounts import MountEntry, MountTable
from mount.policy.store import PolicyStore
from mount.sdk.framework import Backend, SpecialPaths
from mount.sdk.logical import BackendConfig, BatchStorage, Storage
from mount.sdk.telemetry import CREDS_ISSUED
from mount.sys.audit import SUDO_PATHS as AUDIT_SUDO_PATHS
from mount.sys.audit import paths as audit_paths
from mount.sys.auth import paths as sys_auth_paths
from mount.sys.backend import paths as sys_paths
from mount.sys.leases import paths as lease_paths
from mount.sys.metrics import paths as metrics_paths
from mount.sys.policy import paths as policy_paths
from mount.tokens.expiry import TokenExpiryWorker
from mount.tokens.store import TokenEntry, TokenStore
from mount.ui import setup_ui

__all__ = [
    "BrokerOptions",
    "CORE_KEY",
    "HTTP_PARSER_LIMITS",
    "EngineMount",
    "Store",
    "build_core",
    "create_app",
]

logger = logging.getLogger(__name__)

CORE_KEY = web.AppKey("core", Core)
Factory = Callable[[BackendConfig], Awaitable[Backend]]
MAX_BODY_BYTES = 1024 * 1024
READ_TIMEOUT = 30.0  # Vault's http_read_timeout


# HTTP parser limits for the runner (aiohttp's defaults are 8190 bytes a line): long
# enough that any real path or header gets a Vault JSON answer, small enough that one
# request's headers stay under ~6 MB. Beyond them aiohttp answers a plain-text 400, as Go's
# server (Vault's) answers a plain-text 431 beyond its 1 MiB of headers.
class ParserLimits(TypedDict):
    max_line_size: int
    max_field_size: int
    max_headers: int


HTTP_PARSER_LIMITS: ParserLimits = {
    "max_line_size": 64 * 1024,
    "max_field_size": 64 * 1024,
    "max_headers": 100,
}


class Store(Storage, Protocol):
    """The physical store under every view (TinyDB by default)."""

    def view(self, prefix: str) -> BatchStorage: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineMount:
    """A secrets engine to mount: path (`entra/`), type name, factory and description."""

    path: str
    type: str
    factory: Factory
    description: str = ""


@dataclass(slots=True)
class BrokerOptions:
    store: Store
    settings: CoreSettings = field(default_factory=CoreSettings)
    engines: list[EngineMount] = field(default_factory=list)
    # A failed revocation's retry schedule (see LeaseSettings); tests shorten it.
    revoke_backoff_base: float = 1.0
    revoke_backoff_max: float = 60.0
    revoke_slow_interval: float = 600.0
    max_revoke_attempts: int = 6
    max_body_bytes: int = MAX_BODY_BYTES
    # Audit devices declared in the config file, enabled at start.
    audit_devices: tuple[DeclaredDevice, ...] = ()
    # Files no audit device may write (the storage's, the seal key), with what each is.
    reserved_files: dict[Path, str] = field(default_factory=dict)


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
    mounts = MountTable()
    tokens = TokenStore(
        store.view("sys/"),
        max_ttl=settings.max_lease_ttl,
        default_ttl=settings.default_lease_ttl,
    )
    policies = PolicyStore(store.view("sys/"))
    await policies.ensure_default()
    core: Core
    metrics = BrokerMetrics()
    leases = LeaseManager(
        store.view("sys/"),
        lambda mount, kind: core.resolve_secret(mount, kind),
        LeaseSettings(
            default_lease_ttl=settings.default_lease_ttl,
            max_lease_ttl=settings.max_lease_ttl,
            revoke_backoff_base=options.revoke_backoff_base,
            revoke_backoff_max=options.revoke_backoff_max,
            revoke_slow_interval=options.revoke_slow_interval,
            max_revoke_attempts=options.max_revoke_attempts,
            role_issue_limit=settings.role_issue_limit,
            role_issue_interval=settings.role_issue_interval,
            max_leases_per_role=settings.max_leases_per_role,
            max_leases_per_mount=settings.max_leases_per_mount,
        ),
        metrics=metrics,
    )
    metrics.add_gauge_source(
        LeaseGauges(leases.all, lambda: metrics.label_sets(CREDS_ISSUED), leases.is_restored)
    )
    audit = AuditBroker(store.view("sys/audit/"), options.reserved_files)
    await audit.load(options.audit_devices)
    core = Core(
        settings=settings,
        mounts=mounts,
        tokens=tokens,
        leases=leases,
        policies=policies,
        audit=audit,
        metrics=metrics,
    )

    async def revoke_leases_of(entry: TokenEntry) -> None:
        await leases.revoke_by_token(entry.accessor)

    tokens.on_revoke.append(revoke_leases_of)
    auth_methods = AuthMethods(
        store,
        mounts,
        tokens,
        default_lease_ttl=settings.default_lease_ttl,
        max_lease_ttl=settings.max_lease_ttl,
    )

    async def add(path: str, type_: str, backend: Backend, kind: str, description: str) -> None:
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
        )
        if not ids:
            await store.put(key, {"uuid": entry.uuid, "accessor": entry.accessor})
        mounts.add(entry)

    await add(
        "sys/",
        "system",
        Backend(
            sys_paths(core)
            + lease_paths(core)
            + policy_paths(core)
            + audit_paths(audit)
            + sys_auth_paths(auth_methods)
            + metrics_paths(core),
            help_text=SYS_HELP,
            type_name="system",
            # Policy names are stored lowercased, as in Vault.
            case_insensitive=("name",),
            special_paths=SpecialPaths(
                # Reachable without a token, as in Vault.
                unauthenticated=("health", "seal-status", "leader"),
                # Vault's root-protected system paths that this broker serves.
                sudo=(
                    *AUDIT_SUDO_PATHS,
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
        ),
        "secret",
        "system endpoints used for control, policy and debugging",
    )
    await add(
        "auth/token/",
        "token",
        Backend(
            token_paths(core),
            help_text=TOKEN_HELP,
            type_name="token",
            special_paths=SpecialPaths(sudo=("revoke-orphan", "revoke-orphan/*", "accessors*")),
        ),
        "auth",
        "token based credentials",
    )
    for engine in options.engines:
        backend = await engine.factory(
            BackendConfig(
                storage=store.view(f"logical/{engine.path}"),
                logger=logging.getLogger(f"engine.{engine.path.rstrip('/')}"),
                default_lease_ttl=timedelta(seconds=settings.default_lease_ttl),
                max_lease_ttl=timedelta(seconds=settings.max_lease_ttl),
                mount_point=engine.path,
                metrics=metrics,
            )
        )
        await add(engine.path, engine.type, backend, "secret", engine.description)
    restored = await auth_methods.restore()
    logger.info("auth methods restored count=%d", restored)
    logger.info("tokens restored count=%d", await tokens.load())
    # Last: the restore task must not race the set-up above for the event loop.
    await leases.start_restore()
    return core


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


def create_app(
    core: Core,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    read_timeout: float = READ_TIMEOUT,
) -> web.Application:
    """The HTTP application around a built core; its cleanup context runs the expiry worker.

    `read_timeout` bounds the reading of a request body (the listener's
    `http_read_timeout`; the header has its own timer in mount/http/listener.py).
    """
    enable_list_method()
    app = web.Application(
        # The request counter is outermost: it sees the status error_middleware chose.
        middlewares=[request_metrics_middleware(core.metrics), error_middleware],
        client_max_size=max_body_bytes,
    )
    app[CORE_KEY] = core

    async def api(request: web.Request) -> web.StreamResponse:
        parsed = await parse_request(request, read_timeout=read_timeout)
        return render(await core.handle(parsed), request_id=parsed.request_id)

    async def root(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/ui/")

    async def background(app: web.Application) -> AsyncIterator[None]:
        worker = ExpiryWorker(core.leases)
        worker.start()
        token_worker = TokenExpiryWorker(core.tokens)
        token_worker.start()
        yield
        await core.leases.stop_restore()
        await token_worker.stop()
        await worker.stop()
        for entry in core.mounts.entries():
            await entry.backend.close()
        await core.audit.close()

    async def drop_server_header(request: web.Request, response: web.StreamResponse) -> None:
        # Vault sends no Server header; ours would only advertise library versions.
        response.headers.popall("Server", None)

    app.on_response_prepare.append(drop_server_header)
    # [\s\S], not ".": a path with an encoded newline still reaches the API's errors.
    app.router.add_route("*", r"/v1/{path:[\s\S]*}", api)
    app.router.add_get("/", root)
    setup_ui(app, core)  # the dashboard at /ui/
    app.cleanup_ctx.append(background)
    return app


SYS_HELP = """\
The system backend: the server's health, its mounts and auth methods, leases (lookup,
renew, revoke, tidy), policies and capabilities, audit devices, metrics and the OpenAPI
document of every path."""

TOKEN_HELP = """\
The token store: create tokens with policies and TTLs, look them up, renew and revoke
them (with their children and their leases), by the token itself or by its accessor."""
