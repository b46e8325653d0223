"""One mount of the plugin: its broker connection, storage, and lazily built backend.

With multiplexing one process serves every mount of the plugin; OpenBao names the
mount in each call's `multiplex_id` metadata and calls Setup once per mount.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from grpclib.client import Channel

from goplugin.broker import Broker
from goplugin.storage import BrokerStorage, SystemView
from goplugin.wal import WriteAheadLog
from mount.sdk import Backend, BackendConfig

__all__ = ["Factory", "MountInstance"]

Factory = Callable[[BackendConfig], Awaitable[Backend]]

logger = logging.getLogger(__name__)

# Seconds between reads of the mount's TTL limits (a `bao secrets tune` shows after this).
TTL_RECHECK = 10.0
# Seconds a backend replaced by new TTL limits stays open for the requests holding it.
RETIRE_GRACE = 120.0


class MountInstance:
    """What Setup made for one mount; the channel and backend come at first use.

    OpenBao refuses system-view calls during Setup (a registration probe has none), so
    the backend, whose config holds the mount's TTLs, is built at the first request.
    """

    def __init__(
        self, factory: Factory, broker: Broker, broker_id: int, config: Mapping[str, str]
    ) -> None:
        self.factory = factory
        self.broker = broker
        self.broker_id = broker_id
        self.config = dict(config)
        self._channel: Channel | None = None
        self._storage: BrokerStorage | None = None
        self._backend: Backend | None = None
        self._wal: WriteAheadLog | None = None
        self._ttls: tuple[int, int] = (0, 0)
        self._mount_point = ""
        self._recheck_at = 0.0
        self._retiring: dict[asyncio.Task[None], Backend] = {}
        self._lock = asyncio.Lock()

    async def channel(self) -> Channel:
        if self._channel is None:
            self._channel = await self.broker.dial(self.broker_id)
        return self._channel

    async def storage(self) -> BrokerStorage:
        if self._storage is None:
            self._storage = BrokerStorage(await self.channel())
        return self._storage

    async def wal(self) -> WriteAheadLog:
        if self._wal is None:
            self._wal = WriteAheadLog(await self.storage())
        return self._wal

    async def backend(self, mount_point: str = "") -> Backend:
        """The mount's backend, built with OpenBao's TTL limits for the mount.

        Before the first request is served, whatever a killed earlier process left in
        the write-ahead log is rolled back (OpenBao's own rollback comes only each
        minute), so that a restarted plugin does not leave those credentials alive.
        The TTL limits are read again at most every TTL_RECHECK seconds; when a
        `bao secrets tune` changed them, a new backend takes over and the old one is
        closed once the requests that hold it can have finished.
        """
        if self._backend is not None and time.monotonic() < self._recheck_at:
            return self._backend
        async with self._lock:
            if self._backend is None:
                ttls = await self._read_ttls()
                backend = await self._build(mount_point, ttls)
                wal = await self.wal()
                try:
                    await wal.rollback(backend)
                except Exception:  # storage trouble: OpenBao's rollback tries again
                    logger.exception("wal: rollback at start failed mount=%s", mount_point)
                self._backend, self._ttls = backend, ttls
                self._mount_point = mount_point
            elif time.monotonic() >= self._recheck_at:
                await self._recheck()
            self._recheck_at = time.monotonic() + TTL_RECHECK
            return self._backend

    async def _recheck(self) -> None:
        try:
            ttls = await self._read_ttls()
        except Exception:  # keep serving with the limits we have
            logger.warning("could not read the mount's TTLs again", exc_info=True)
            return
        if ttls == self._ttls:
            return
        old, self._backend = self._backend, await self._build(self._mount_point, ttls)
        self._ttls = ttls
        if old is not None:
            self._retire(old)

    def _retire(self, old: Backend) -> None:
        async def close_later() -> None:
            await asyncio.sleep(RETIRE_GRACE)
            await old.close()

        task = asyncio.create_task(close_later())
        self._retiring[task] = old
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    async def probe_backend(self) -> Backend:
        """The backend, or (before its first request) a throwaway one for static facts
        such as its special paths; a throwaway one must be closed by the caller."""
        if self._backend is not None:
            return self._backend
        return await self._build("", (0, 0))

    def built(self, backend: Backend) -> bool:
        return backend is self._backend

    async def _read_ttls(self) -> tuple[int, int]:
        view = SystemView(await self.channel())
        return await view.default_lease_ttl(), await view.max_lease_ttl()

    async def _build(self, mount_point: str, ttls: tuple[int, int]) -> Backend:
        storage = await self.storage()
        default_ttl, max_ttl = ttls
        conf = BackendConfig(
            storage=storage,
            logger=logging.getLogger(f"goplugin.mount.{mount_point.rstrip('/') or 'unnamed'}"),
            default_lease_ttl=timedelta(seconds=default_ttl),
            max_lease_ttl=timedelta(seconds=max_ttl),
            mount_point=mount_point,
            config=self.config,
        )
        backend = await self.factory(conf)
        if mount_point:
            logger.info(
                "backend built mount=%s default_lease_ttl=%ds max_lease_ttl=%ds",
                mount_point,
                default_ttl,
                max_ttl,
            )
        return backend

    async def close(self) -> None:
        backend, self._backend = self._backend, None
        retiring, self._retiring = self._retiring, {}
        for task in retiring:
            task.cancel()
        for old in [backend, *retiring.values()]:
            if old is not None:
                await old.close()
        channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()
