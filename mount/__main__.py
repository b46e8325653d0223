"""The `entra-broker` command: the composition root, and the only module importing `plugin`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shutil
import socket
import ssl
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import plugin
from goplugin import install as openbao_plugin
from mount.audit.device import DeclaredDevice, FileOptions, check_audit_file
from mount.config.parse import LOG_FORMATS, ConfigError, ListenerConfig, ServerConfig, load_config
from mount.core import Core, CoreSettings
from mount.http.app import BrokerOptions, EngineMount, build_core, create_app, ensure_root_token
from mount.http.listener import ListenerLimits
from mount.http.server import ServerError, bind, run_loop, serve, tls_context
from mount.leases.manager import LeaseRestoreError
from mount.logging_setup import LOG_LEVELS, setup_logging
from mount.sdk.errors import InvalidRequestError, VaultError
from mount.sdk.logical import Operation
from mount.storage.barrier import KEY_ENV, Barrier, BarrierError, load_seal_key
from mount.storage.log import LogStore
from mount.storage.open import StorageLayout, storage_layout
from mount.storage.split import SplitStore
from mount.storage.store import StorageError
from mount.tokens.store import TokenStore, random_id
from plugin.emulator import EmulatorServer, EmulatorSettings
from plugin.emulator import cli as emulator_cli

__all__ = ["main"]

logger = logging.getLogger("entra_broker")


def _version() -> str:
    try:
        return metadata.version("entra-broker")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


VERSION = _version()
DEV_USERS = ("alice", "bob", "carol")
DEV_DOMAIN = "example.test"
# Every Graph permission some feature needs (docs/entra-setup.md), so that each can be
# tried in dev mode: passwords, Temporary Access Passes, client secrets, rotate-root.
DEV_GRAPH_PERMISSIONS = (
    "User.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
)


class StartError(Exception):
    """Why the server cannot start, as one sentence for the operator."""


def entra_engine() -> EngineMount:
    return EngineMount("entra/", "entra", plugin.factory, "Azure Entra ID credentials under leases")


def _layout(config: ServerConfig) -> StorageLayout:
    try:
        return storage_layout(
            config.storage.type, config.storage.path, directory=config.storage.directory
        )
    except StorageError as exc:
        raise StartError(str(exc)) from None


def _open_store(layout: StorageLayout, key_file: Path) -> SplitStore | LogStore:
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


def _reserved_files(layout: StorageLayout, key_file: Path) -> dict[Path, str]:
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


@dataclass(slots=True)
class DevOptions:
    listen: str
    root_token: str | None
    with_emulator: bool = True


async def _build(
    store: SplitStore | LogStore,
    settings: CoreSettings,
    audit: tuple[DeclaredDevice, ...] = (),
    reserved: Mapping[Path, str] | None = None,
) -> Core:
    try:
        return await build_core(
            BrokerOptions(
                store=store,
                settings=settings,
                engines=[entra_engine()],
                audit_devices=audit,
                reserved_files=dict(reserved or {}),
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
    reserved = _reserved_files(layout, key_file)
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


async def _run_bound(
    config: ServerConfig,
    checked: _Checked,
    sockets: Sequence[socket.socket],
    config_file: Path | None,
) -> None:
    _warn_if_key_beside_data(checked.layout, checked.key_file)
    store = _open_store(checked.layout, checked.key_file)
    core: Core | None = None
    try:
        settings = CoreSettings(
            storage_type=config.storage.type,
            default_lease_ttl=int(config.default_lease_ttl.total_seconds()),
            max_lease_ttl=int(config.max_lease_ttl.total_seconds()),
            role_issue_limit=config.role_issue_limit,
            role_issue_interval=int(config.role_issue_interval.total_seconds()),
            max_leases_per_role=config.max_leases_per_role,
            max_leases_per_mount=config.max_leases_per_mount,
        )
        core = await _build(store, settings, config.audit, checked.reserved)
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
    store = _open_store(layout, config.seal_key_file or layout.default_seal_key_file)
    try:
        tokens = TokenStore(store.view("sys/"), max_ttl=int(config.max_lease_ttl.total_seconds()))
        token, entry = await tokens.create(policies=["root"], ttl=0, display_name="root")
        logger.info("root token generated accessor=%s", entry.accessor)
        return token
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def dev_environment() -> AsyncIterator[tuple[Path, EmulatorServer, EmulatorSettings]]:
    """A temporary directory and an in-process Entra emulator, removed on exit."""
    workdir = Path(tempfile.mkdtemp(prefix="entra-broker-dev-"))
    settings = EmulatorSettings(
        tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()),
        client_secret=secrets.token_urlsafe(32),
        users=[f"{name}@{DEV_DOMAIN}" for name in DEV_USERS],
        roles=list(DEV_GRAPH_PERMISSIONS),
    )
    emulator = EmulatorServer(settings, cert_dir=workdir / "emulator")
    try:
        await emulator.start()
        yield workdir, emulator, settings
    finally:
        await emulator.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def configure_dev(
    core: Core, root: str, emulator: EmulatorServer, settings: EmulatorSettings
) -> None:
    """Write entra/config against the emulator and one role per dev user."""
    await core.handle_internal(
        Operation.UPDATE,
        "entra/config",
        {
            "tenant_id": settings.tenant_id,
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "authority_host": emulator.base_url,
            "graph_endpoint": emulator.base_url,
            "ca_cert": emulator.ca_path.read_text(),
        },
        root,
    )
    for name in DEV_USERS:
        await core.handle_internal(
            Operation.UPDATE,
            f"entra/roles/{name}",
            {"user_principal_name": f"{name}@{DEV_DOMAIN}", "ttl": "1h", "max_ttl": "24h"},
            root,
        )


async def run_dev(options: DevOptions) -> None:
    """Dev mode: temporary storage, an emulated tenant, a ready entra/ mount."""
    # A busy port stops dev mode before it starts anything.
    sockets = bind(options.listen, tls=False)
    try:
        if not options.with_emulator:
            workdir = Path(tempfile.mkdtemp(prefix="entra-broker-dev-"))
            try:
                await _serve_dev(options, sockets, workdir, None)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            return
        async with dev_environment() as (workdir, emulator, emu_settings):
            await _serve_dev(options, sockets, workdir, (emulator, emu_settings))
    finally:
        for sock in sockets:
            sock.close()


def listener_limits(listener: ListenerConfig) -> ListenerLimits:
    """The listener stanza's connection rules, for the server."""
    return ListenerLimits(
        read_header_timeout=listener.http_read_header_timeout,
        idle_timeout=listener.http_idle_timeout,
        max_connections=listener.max_connections,
    )


async def _serve_dev(
    options: DevOptions,
    sockets: Sequence[socket.socket],
    workdir: Path,
    tenant: tuple[EmulatorServer, EmulatorSettings] | None,
) -> None:
    layout = StorageLayout("tinydb", workdir / "broker.json")
    key_file = layout.default_seal_key_file
    store = _open_store(layout, key_file)
    try:
        core = await _build(
            store, CoreSettings(storage_type="tinydb"), reserved=_reserved_files(layout, key_file)
        )
        root = await ensure_root_token(core, options.root_token or f"s.{random_id()}")
        assert root is not None
        if tenant is not None:
            try:
                await configure_dev(core, root, *tenant)
            except VaultError as exc:
                raise StartError(f"dev mode could not configure entra/: {exc.message}") from None

        def ready(url: str) -> None:
            print(_dev_banner(url, root, tenant), flush=True)

        await serve(create_app(core), address=options.listen, on_ready=ready, sockets=sockets)
    finally:
        await store.close()


def _dev_banner(url: str, root: str, tenant: tuple[EmulatorServer, EmulatorSettings] | None) -> str:
    head = f"""\
==> entra-broker server started! Log data will stream in below.

WARNING! dev mode is enabled! Storage is temporary and the Entra tenant is an
emulator: nothing here touches a real tenant, and everything is gone on exit.

You may need to set the following environment variables:

    $ export BAO_ADDR='{url}'
    $ export VAULT_ADDR='{url}'

Root Token: {root}
"""
    if tenant is None:
        return (
            head
            + f"""
No Entra emulator (--dev-no-emulator): entra/ is mounted but not configured. Write
entra/config and entra/roles/<name> yourself:

    $ export BAO_TOKEN='{root}'
    $ bao write entra/config tenant_id=... client_id=... client_secret=...
"""
        )
    emulator, emu = tenant
    return (
        head
        + f"""
Entra emulator: {emulator.base_url} (tenant {emu.tenant_id}, CA {emulator.ca_path})
Users: {", ".join(f"{n}@{DEV_DOMAIN}" for n in DEV_USERS)}; roles: {", ".join(DEV_USERS)}

Try:

    $ export BAO_TOKEN='{root}'
    $ bao read entra/creds/alice
    $ bao lease lookup <lease_id>
    $ bao lease renew -increment=30m <lease_id>
    $ bao lease revoke <lease_id>

Check that an issued password signs in at the emulator, with the password in PASSWORD:

    $ export EMULATOR_TOKEN_URL='{emulator.base_url}/{emu.tenant_id}/oauth2/v2.0/token'
    $ export EMULATOR_CA='{emulator.ca_path}'
    $ export EMULATOR_CLIENT_ID='{emu.client_id}'
    $ curl -s --cacert "$EMULATOR_CA" "$EMULATOR_TOKEN_URL" -d grant_type=password \\
        -d client_id="$EMULATOR_CLIENT_ID" -d scope=https://graph.microsoft.com/.default \\
        -d username=alice@{DEV_DOMAIN} --data-urlencode password="$PASSWORD"
"""
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="entra-broker",
        description="Short-lived Azure Entra ID credentials through the HashiCorp Vault API.",
        epilog="Documentation: docs/quickstart.md, docs/configuration.md and docs/operations.md "
        "in the source distribution.",
    )
    parser.add_argument("--version", action="version", version=f"entra-broker {VERSION}")
    commands = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        required=True,
        help="what to run; `entra-broker COMMAND --help` describes each",
    )

    server = commands.add_parser(
        "server",
        help="run the broker",
        description="Run the broker: with --config for real use, with --dev to try it out.",
    )
    mode = server.add_mutually_exclusive_group(required=True)
    # Each flag also takes Vault's single-dash spelling (`-dev`, `-config=FILE`), which
    # Vault's docs and ported scripts use.
    mode.add_argument("-config", "--config", type=Path, metavar="FILE", help="HCL config file")
    mode.add_argument(
        "-dev",
        "--dev",
        action="store_true",
        help="temporary storage, a printed root token and an emulated Entra tenant",
    )
    server.add_argument(
        "-dev-listen-address",
        "--dev-listen-address",
        default="127.0.0.1:8200",
        metavar="ADDR",
        help="address for dev mode (default 127.0.0.1:8200)",
    )
    server.add_argument(
        "-dev-root-token-id",
        "--dev-root-token-id",
        metavar="TOKEN",
        help="root token to use in dev mode",
    )
    server.add_argument(
        "-dev-no-emulator",
        "--dev-no-emulator",
        dest="dev_emulator",
        action="store_false",
        help="dev mode without its built-in Entra emulator: entra/ is left unconfigured, "
        "for pointing it at a separate emulator or a test tenant",
    )
    server.add_argument(
        "-log-level",
        "--log-level",
        choices=sorted(LOG_LEVELS),
        help="log level (default: the config's log_level, else info)",
    )
    server.add_argument(
        "-log-format",
        "--log-format",
        choices=LOG_FORMATS,
        help="standard text lines or JSON lines (default: the config's log_format, else standard)",
    )

    operator = commands.add_parser(
        "operator", help="offline maintenance", description="Offline maintenance commands."
    )
    operator_commands = operator.add_subparsers(
        dest="operator_command",
        metavar="COMMAND",
        required=True,
        help="the maintenance task; each works on the storage file with the server stopped",
    )
    generate = operator_commands.add_parser(
        "generate-root",
        help="create a new root token (server stopped)",
        description="Create a new root token directly in the storage file, for when the "
        "one printed at first start is lost. Stop the server first: the storage file has "
        "a single writer.",
    )
    generate.add_argument(
        "-config",
        "--config",
        type=Path,
        required=True,
        metavar="FILE",
        help="the server's HCL config file",
    )

    emulator = commands.add_parser(
        "emulator",
        help="run the Entra ID emulator alone",
        description="Run a local Entra tenant (login and Graph) over HTTPS, for tests and demos.",
    )
    emulator_cli.add_arguments(emulator)
    openbao = commands.add_parser(
        "openbao-plugin",
        help="run the Entra engine inside OpenBao or Vault (docs/openbao.md)",
        description="Install the Entra engine as an OpenBao/Vault external plugin.",
    )
    openbao_plugin.add_arguments(openbao)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "emulator":
        return int(emulator_cli.run(args))
    if args.command == "openbao-plugin":
        return openbao_plugin.run(args)
    try:
        if args.command == "operator":
            config, _ = load_config(args.config)
            setup_logging("warning", config.log_format)
            token = run_loop(generate_root(config))
            print(f"Root Token: {token}")
            return 0
        if args.dev:
            setup_logging(args.log_level or "info", args.log_format or "standard")
            run_loop(
                run_dev(
                    DevOptions(args.dev_listen_address, args.dev_root_token_id, args.dev_emulator)
                )
            )
        else:
            config, warnings = load_config(args.config)
            setup_logging(args.log_level or config.log_level, args.log_format or config.log_format)
            run_loop(run_server(config, warnings, args.config))
    except ConfigError as exc:
        if exc.warnings:
            # The "did you mean" of a typo, before the error the typo caused.
            setup_logging(getattr(args, "log_level", None) or "info", _log_format(args))
            for warning in exc.warnings:
                logger.warning("config: %s", warning)
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except (StartError, ServerError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _log_format(args: argparse.Namespace) -> str:
    return str(getattr(args, "log_format", None) or "standard")


if __name__ == "__main__":
    raise SystemExit(main())
