"""Run the whole broker in a background thread, for synchronous clients (hvac, bao CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import plugin
from mount.audit.device import DeclaredDevice
from mount.build import BrokerOptions, EngineMount, Store, build_core, ensure_root_token
from mount.core import Core, CoreSettings
from mount.http.app import create_app
from mount.http.listener import listening_sockets, start_serving
from mount.storage.barrier import Barrier, key_fingerprint
from mount.storage.open import open_store
from mount.storage.split import leases_path

ROOT_TOKEN = "root"


@dataclass
class BrokerThread:
    """The broker on 127.0.0.1, default storage in `data_dir`; restartable on the same data."""

    data_dir: Path
    settings: CoreSettings = field(default_factory=CoreSettings)
    revoke_backoff_base: float = 0.2
    revoke_backoff_max: float = 60.0
    revoke_slow_interval: float = 600.0
    max_revoke_attempts: int = 6
    seal_key: bytes = b"k" * 32
    # Wraps the opened store before the core is built (a test holding some reads back).
    wrap_store: Callable[[Store], Store] | None = None
    audit_devices: tuple[DeclaredDevice, ...] = ()
    port: int = 0
    core: Core | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def storage_file(self) -> Path:
        return self.data_dir / "broker.json"

    @property
    def storage_files(self) -> tuple[Path, Path]:
        """The TinyDB file and the leases-and-tokens log beside it."""
        return self.storage_file, leases_path(self.storage_file)

    def storage_bytes(self) -> bytes:
        return b"".join(path.read_bytes() for path in self.storage_files)

    def start(self) -> BrokerThread:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="broker", daemon=True)
        self._thread.start()
        if not ready.wait(30):
            raise RuntimeError("broker did not start within 30s")
        if failure:
            raise failure[0]
        return self

    async def _serve(self, ready: threading.Event) -> None:
        store: Store = open_store("tinydb", self.storage_file, Barrier(self.seal_key))
        if self.wrap_store is not None:
            store = self.wrap_store(store)
        try:
            self.core = await build_core(
                BrokerOptions(
                    store=store,
                    settings=self.settings.with_leases(
                        revoke_backoff_base=self.revoke_backoff_base,
                        revoke_backoff_max=self.revoke_backoff_max,
                        revoke_slow_interval=self.revoke_slow_interval,
                        max_revoke_attempts=self.max_revoke_attempts,
                    ),
                    engines=[EngineMount("entra/", "entra", plugin.factory)],
                    audit_devices=self.audit_devices,
                    seal_fingerprint=key_fingerprint(self.seal_key),
                )
            )
            await ensure_root_token(self.core, ROOT_TOKEN)
            # The server's own listener (mount/http/listener.py), as `entra-broker server` runs.
            sockets = listening_sockets("127.0.0.1", self.port)
            runner = await start_serving(create_app(self.core), sockets)
            self.port = sockets[0].getsockname()[1]
            self._stop = asyncio.Event()
            ready.set()
            await self._stop.wait()
            await runner.cleanup()
        finally:
            await store.close()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(30)
        self._thread = None

    def restart(self) -> BrokerThread:
        """Stop and start again on the same storage and port, as after a process restart."""
        self.stop()
        return self.start()

    def __enter__(self) -> BrokerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
