"""Starting the server from its config: checks, storage, the core, the listener."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import plugin
from mount.audit.device import DeclaredDevice, FileOptions, check_audit_file
from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.config.model import ListenerConfig, ServerConfig
from mount.core import Core, CoreSettings
from mount.http.app import create_app
from mount.http.listener import ListenerLimits
from mount.http.server import bind, serve, tls_context
from mount.leases.restore import LeaseRestoreError
from mount.leases.settings import LeaseSettings
from mount.sdk.errors import InvalidRequestError
from mount.sdk.storage import StorageError
from mount.startup import StartError
from mount.storage.barrier import KEY_ENV, Barrier, BarrierError, key_fingerprint, load_seal_key
from mount.storage.log import LogStore
from mount.storage.open import StorageLayout, storage_layout
from mount.storage.split import SplitStore
from mount.tokens.store import TokenStore

__all__ = [
    "ENGINE_TYPES",
    "build_broker",
    "entra_engine",
    "generate_root",
    "listener_limits",
    "open_store",
    "seal_fingerprint",
    "reserved_files",
    "run_server",
]

logger = logging.getLogger("entra_broker")


# The secrets engines `bao secrets enable` can mount, by type name.
ENGINE_TYPES = {"entra": plugin.factory}


def entra_engine() -> EngineMount:
    return EngineMount("entra/", "entra", plugin.factory, "Azure Entra ID credentials under leases")


def _layout(config: ServerConfig) -> StorageLayout:
    try:
        return storage_layout(
            config.storage.type, config.storage.path, directory=config.storage.directory
        )
    except StorageError as exc:
        raise StartError(str(exc)) from None


def open_store(layout: StorageLayout, key_file: Path) -> SplitStore | LogStore:
    if layout.in_use() and KEY_ENV not in os.environ and not key_file.exists():
        # A new key could never open the existing data: say so instead of making one.
        raise StartError(
            f"the seal key file {key_file} is missing but the storage {layout.data} exists; "
            f"restore the key file from your backup or set {KEY_ENV}"
        )
    try:
        key = load_seal_key(os.environ, key_file)
        return layout.open(Barrier(key))
    except (BarrierError, StorageError) as exc:
        raise StartError(str(exc)) from None
    except OSError as exc:
        raise StartError(f"cannot open storage at {layout.data}: {exc.strerror}") from None


def seal_fingerprint(key_file: Path) -> str:
    """The fingerprint of the seal key the store was opened with (sys/unseal checks it)."""
    try:
        return key_fingerprint(load_seal_key(os.environ, key_file))
    except BarrierError as exc:
        raise StartError(str(exc)) from None


def reserved_files(layout: StorageLayout, key_file: Path) -> dict[Path, str]:
    """Files no audit device may write to: the store's own, and the seal key."""
    reserved = layout.files()
    if KEY_ENV not in os.environ:
        reserved[key_file] = "the seal key file"
    return reserved


def _check_declared_audit(devices: Sequence[DeclaredDevice], reserved: Mapping[Path, str]) -> None:
    """A config-declared device on a file it must not write stops the start (the API
    answers the same with a 400)."""
    for device in devices:
        try:
            check_audit_file(
                FileOptions.parse(device.options, from_config=True).file_path, reserved
            )
        except InvalidRequestError as exc:
            raise StartError(f'audit "{device.type}" "{device.path}": {exc.message}') from None


def _warn_if_key_beside_data(layout: StorageLayout, key_file: Path) -> None:
    if KEY_ENV in os.environ:
        return
    if layout.home.absolute() in key_file.absolute().parents:
        logger.warning(
            "the seal key file %s is in the storage directory %s: back them up apart, since "
            "the seal key protects the data and a backup holding both is no protection "
            "(see docs/operations.md, The seal key)",
            key_file,
            layout.home,
        )


def _tls(listener: ListenerConfig) -> ssl.SSLContext | None:
    if listener.tls_disable:
        return None
    if listener.tls_cert_file is None or listener.tls_key_file is None:
        raise StartError(
            'listener "tcp": tls_cert_file and tls_key_file are required unless tls_disable = true'
        )
    return tls_context(listener.tls_cert_file, listener.tls_key_file, listener.tls_min_version)


async def build_broker(
    store: SplitStore | LogStore,
    settings: CoreSettings,
    audit: tuple[DeclaredDevice, ...] = (),
    reserved: Mapping[Path, str] | None = None,
    seal_fingerprint: str | None = None,
) -> Core:
    try:
        return await build_core(
            BrokerOptions(
                store=store,
                settings=settings,
                engines=[entra_engine()],
                engine_types=dict(ENGINE_TYPES),
                audit_devices=audit,
                reserved_files=dict(reserved or {}),
                seal_fingerprint=seal_fingerprint,
            )
        )
    except (StorageError, BarrierError) as exc:
        raise StartError(str(exc)) from None
    except LeaseRestoreError as exc:
        raise StartError(exc.message) from None


@dataclass(frozen=True, slots=True)
class _Checked:
    """What a start checks and loads before it creates anything."""

    layout: StorageLayout
    key_file: Path
    reserved: dict[Path, str]  # files no audit device may write
    tls: ssl.SSLContext | None


def _check_start(config: ServerConfig) -> _Checked:
    layout = _layout(config)
    key_file = config.seal_key_file or layout.default_seal_key_file
    reserved = reserved_files(layout, key_file)
    _check_declared_audit(config.audit, reserved)
    return _Checked(layout, key_file, reserved, _tls(config.listener))


async def run_server(
    config: ServerConfig, config_warnings: list[str], config_file: Path | None = None
) -> None:
    """Real mode: persistent storage, a root token generated once.

    Nothing is created (storage, seal key, root token, audit file) until the TLS files
    are loaded and the port is bound: a start that fails on those leaves no files.
    """
    for warning in config_warnings:
        logger.warning("config: %s", warning)
    checked = _check_start(config)
    sockets = bind(config.listener.address, tls=checked.tls is not None)
    try:
        await _run_bound(config, checked, sockets, config_file)
    finally:
        for sock in sockets:
            sock.close()


def _core_settings(config: ServerConfig) -> CoreSettings:
    """The core's settings from the configuration file's top-level keys."""
    return CoreSettings(
        storage_type=config.storage.type,
        leases=LeaseSettings(
            default_lease_ttl=int(config.default_lease_ttl.total_seconds()),
            max_lease_ttl=int(config.max_lease_ttl.total_seconds()),
            role_issue_limit=config.role_issue_limit,
            role_issue_interval=int(config.role_issue_interval.total_seconds()),
            max_leases_per_role=config.max_leases_per_role,
            max_leases_per_mount=config.max_leases_per_mount,
        ),
    )


async def _run_bound(
    config: ServerConfig,
    checked: _Checked,
    sockets: Sequence[socket.socket],
    config_file: Path | None,
) -> None:
    _warn_if_key_beside_data(checked.layout, checked.key_file)
    store = open_store(checked.layout, checked.key_file)
    core: Core | None = None
    try:
        core = await build_broker(
            store,
            _core_settings(config),
            config.audit,
            checked.reserved,
            seal_fingerprint=seal_fingerprint(checked.key_file),
        )
        # Leases are restored while serving; one that cannot be read stops the server as
        # it would have stopped it before serving. (Registered before the restore task
        # first runs: nothing awaited since build_core created it.)
        stop = asyncio.Event()
        failures: list[LeaseRestoreError] = []

        def restore_failed(error: LeaseRestoreError) -> None:
            failures.append(error)
            stop.set()

        core.leases.on_restore_failed.append(restore_failed)
        root = await ensure_root_token(core)

        def ready(url: str) -> None:
            print(f"==> entra-broker server started on {url}", flush=True)
            print(_root_token_banner(root, config_file), flush=True)

        listener = config.listener
        app = create_app(
            core,
            max_body_bytes=listener.max_request_size,
            read_timeout=listener.http_read_timeout,
        )
        await serve(
            app,
            address=listener.address,
            ssl_context=checked.tls,
            on_ready=ready,
            stop=stop,
            sockets=sockets,
            limits=listener_limits(listener),
        )
        if failures:
            raise StartError(failures[0].message)
    finally:
        if core is not None:
            await core.leases.stop_restore()  # before the store it reads closes
        await store.close()


def _root_token_banner(root: str | None, config_file: Path | None) -> str:
    if root is not None:
        return (
            "\nThe root token is shown once. Keep it safe; see docs/operations.md to "
            f"recover a lost one.\n\nRoot Token: {root}\n"
        )
    return (
        "No root token printed: this storage already has one (shown at its first start); "
        f"lost it? run entra-broker operator generate-root --config {config_file or 'FILE'}"
    )


async def generate_root(config: ServerConfig) -> str:
    """Make a new root token offline, from the storage file and its seal key.

    Whoever can read both already controls every secret, so this adds no new power; it
    is the way back when the root token printed at first start is lost.
    """
    layout = _layout(config)
    if not layout.in_use():
        raise StartError(f"no storage at {config.storage.path}: start the server once first")
    store = open_store(layout, config.seal_key_file or layout.default_seal_key_file)
    try:
        tokens = TokenStore(store.view("sys/"), max_ttl=int(config.max_lease_ttl.total_seconds()))
        token, entry = await tokens.create(policies=["root"], ttl=0, display_name="root")
        logger.info("root token generated accessor=%s", entry.accessor)
        return token
    finally:
        await store.close()


def listener_limits(listener: ListenerConfig) -> ListenerLimits:
    """The listener stanza's connection rules, for the server."""
    return ListenerLimits(
        read_header_timeout=listener.http_read_header_timeout,
        idle_timeout=listener.http_idle_timeout,
        max_connections=listener.max_connections,
    )
