"""Dev mode: temporary storage, an in-process Entra emulator, a ready entra/ mount.

The only module of the server that imports the emulator; the command line imports it
only when `--dev` is asked for, so a production start never loads the emulator.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from emulator import EmulatorServer, EmulatorSettings
from mount.build import ensure_root_token
from mount.core import Core, CoreSettings
from mount.http.app import create_app
from mount.http.server import bind, serve
from mount.ids import random_id
from mount.run import build_broker, open_store, reserved_files, seal_fingerprint
from mount.sdk.errors import VaultError
from mount.sdk.logical import Operation
from mount.startup import StartError
from mount.storage.barrier import load_seal_key
from mount.storage.open import StorageLayout

__all__ = ["DevOptions", "configure_dev", "dev_environment", "run_dev"]


DEV_USERS = ("alice", "bob", "carol")


DEV_DOMAIN = "example.test"


# Every Graph permission some feature needs (docs/entra-setup.md), so that each can be
# tried in dev mode: passwords, Temporary Access Passes, client secrets, rotate-root.
DEV_GRAPH_PERMISSIONS = (
    "User.ReadWrite.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "Application.ReadWrite.OwnedBy",
)


@dataclass(slots=True)
class DevOptions:
    listen: str
    root_token: str | None
    with_emulator: bool = True


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


async def _serve_dev(
    options: DevOptions,
    sockets: Sequence[socket.socket],
    workdir: Path,
    tenant: tuple[EmulatorServer, EmulatorSettings] | None,
) -> None:
    layout = StorageLayout("tinydb", workdir / "broker.json")
    key_file = layout.default_seal_key_file
    store = open_store(layout, key_file)
    try:
        core = await build_broker(
            store,
            CoreSettings(storage_type="tinydb"),
            reserved=reserved_files(layout, key_file),
            seal_fingerprint=seal_fingerprint(key_file),
        )
        # Shown as Vault's dev server shows it, for `bao operator unseal` after a seal.
        unseal_key = base64.b64encode(load_seal_key(os.environ, key_file)).decode("ascii")
        root = await ensure_root_token(core, options.root_token or f"s.{random_id()}")
        assert root is not None
        if tenant is not None:
            try:
                await configure_dev(core, root, *tenant)
            except VaultError as exc:
                raise StartError(f"dev mode could not configure entra/: {exc.message}") from None

        def ready(url: str) -> None:
            print(_dev_banner(url, root, unseal_key, tenant), flush=True)

        await serve(create_app(core), address=options.listen, on_ready=ready, sockets=sockets)
    finally:
        await store.close()


def _dev_banner(
    url: str, root: str, unseal_key: str, tenant: tuple[EmulatorServer, EmulatorSettings] | None
) -> str:
    head = f"""\
==> entra-broker server started! Log data will stream in below.

WARNING! dev mode is enabled! Storage is temporary and the Entra tenant is an
emulator: nothing here touches a real tenant, and everything is gone on exit.

You may need to set the following environment variables:

    $ export BAO_ADDR='{url}'
    $ export VAULT_ADDR='{url}'

The unseal key and root token are displayed below in case you want to
seal/unseal the server or re-authenticate.

Unseal Key: {unseal_key}
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
