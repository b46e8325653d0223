"""Running the emulator: HTTPS on a real port, in this event loop or in its own thread."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import Counter
from pathlib import Path
from types import TracebackType

from aiohttp import web

from emulator.app import create_emulator_app
from emulator.certs import CA_FILE, CertificateFiles, write_certificates
from emulator.faults import FaultBook
from emulator.keys import CALLS_KEY, FAULTS_KEY, STATE_KEY
from emulator.settings import EmulatorSettings
from emulator.state import TenantState

__all__ = ["EmulatorServer", "ThreadedEmulator"]

logger = logging.getLogger(__name__)

# Held (timeout-fault) calls are released on shutdown, so this is only a safety net.
_SHUTDOWN_TIMEOUT = 5.0
_START_TIMEOUT = 60.0


def _url_host(host: str) -> str:
    """The host part of a URL that reaches a server bound to `host`."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class EmulatorServer:
    """The emulator over HTTPS in the running event loop.

    Each start creates a new tenant (fresh users, key, CA). Usable as
    `async with EmulatorServer(settings, cert_dir=path) as emu:`.
    """

    def __init__(self, settings: EmulatorSettings, *, cert_dir: Path | str | None = None) -> None:
        self.settings = settings
        self._cert_dir = Path(cert_dir) if cert_dir is not None else None
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self._files: CertificateFiles | None = None
        self._host = ""
        self._port = 0

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, cert_dir: Path | str | None = None
    ) -> None:
        """Write certificates to `cert_dir` (or the constructor's) and listen on host:port.

        Port 0 picks a free port; it is listening when this returns.
        """
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        directory = Path(cert_dir) if cert_dir is not None else self._cert_dir
        if directory is None:
            raise ValueError("cert_dir is required (to the constructor or to start)")
        self._cert_dir = directory
        files = await asyncio.to_thread(write_certificates, directory, self.settings.hostnames)
        app = create_emulator_app(self.settings)
        runner = web.AppRunner(app, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, ssl_context=files.server_context())
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._app, self._files = runner, app, files
        self._host = host
        self._port = int(runner.addresses[0][1])
        logger.info(
            "entra emulator started url=%s tenant_id=%s", self.base_url, self.settings.tenant_id
        )

    async def stop(self) -> None:
        """Stop listening and release held calls; the state stays readable. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
            logger.info("entra emulator stopped port=%d", self._port)

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the emulator has not been started")
        return self._port

    @property
    def base_url(self) -> str:
        """`https://host:port`, the authority host and the Graph endpoint alike."""
        return f"https://{_url_host(self._host)}:{self.port}"

    @property
    def ca_path(self) -> Path:
        """The CA certificate (PEM) clients must trust."""
        if self._files is not None:
            return self._files.ca_path
        if self._cert_dir is not None:
            return self._cert_dir / CA_FILE
        raise RuntimeError("the emulator has not been started")

    @property
    def app(self) -> web.Application:
        if self._app is None:
            raise RuntimeError("the emulator has not been started")
        return self._app

    @property
    def state(self) -> TenantState:
        """Users, passwords (as digests), permissions: for in-process checks."""
        return self.app[STATE_KEY]

    @property
    def faults(self) -> FaultBook:
        return self.app[FAULTS_KEY]

    @property
    def calls(self) -> Counter[str]:
        """Calls by "METHOD route", as GET /_emulator/calls shows them."""
        return self.app[CALLS_KEY]


class ThreadedEmulator:
    """An EmulatorServer on its own thread and event loop, for synchronous callers.

    `with ThreadedEmulator(settings, cert_dir) as emu:` returns once the port listens
    and joins the thread on exit. Change the tenant through the admin API (HTTP);
    `state` is for reading only, as another thread owns it.
    """

    def __init__(
        self,
        settings: EmulatorSettings,
        cert_dir: Path | str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.server = EmulatorServer(settings, cert_dir=cert_dir)
        self._host = host
        self._port = port
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self, timeout: float = _START_TIMEOUT) -> None:
        if self._thread is not None:
            raise RuntimeError("the emulator thread is already running")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="entra-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"the Entra emulator did not start within {timeout:g}s")
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error

    def stop(self, timeout: float = 30.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the Entra emulator thread did not stop within {timeout:g}s")

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            await self.server.start(self._host, self._port)
        except BaseException as exc:  # handed to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await self.server.stop()

    def __enter__(self) -> ThreadedEmulator:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ca_path(self) -> Path:
        return self.server.ca_path

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def state(self) -> TenantState:
        return self.server.state
