"""go-plugin's GRPCBroker: where the host tells us to dial for its storage and system view.

The host opens `StartStream` right after connecting; each `Setup` names a broker id,
and the matching `ConnInfo` (a unix socket) arrives on that stream. We dial it only
when a mount first needs its storage or system view.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING

from grpclib.client import Channel
from grpclib.config import Configuration

from goplugin.proto import grpc_broker_grpc, grpc_broker_pb2
from goplugin.tls import HOST_NAME

if TYPE_CHECKING:
    from grpclib.server import Stream

__all__ = ["Broker", "BrokerUnavailable"]

logger = logging.getLogger(__name__)

# go-plugin's host waits 5 s for a dial; we wait as long for the host's ConnInfo.
DIAL_TIMEOUT = 5.0


class BrokerUnavailable(Exception):
    """The host never said where to dial for a broker id."""


class Broker(grpc_broker_grpc.GRPCBrokerBase):
    """Collects the host's ConnInfo messages and opens channels to them."""

    def __init__(self, tls: ssl.SSLContext) -> None:
        self._tls = tls
        self._known: dict[int, grpc_broker_pb2.ConnInfo] = {}
        self._changed = asyncio.Condition()

    async def StartStream(
        self, stream: Stream[grpc_broker_pb2.ConnInfo, grpc_broker_pb2.ConnInfo]
    ) -> None:
        await stream.send_initial_metadata()
        async for info in stream:
            logger.debug("broker: service %d at %s", info.service_id, info.network)
            async with self._changed:
                self._known[info.service_id] = info
                self._changed.notify_all()

    async def _conn_info(self, service_id: int) -> grpc_broker_pb2.ConnInfo:
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: service_id in self._known), DIAL_TIMEOUT
                )
            except TimeoutError:
                raise BrokerUnavailable(
                    f"the host sent no address for broker id {service_id} within "
                    f"{DIAL_TIMEOUT:.0f}s"
                ) from None
            return self._known[service_id]

    async def dial(self, service_id: int) -> Channel:
        """A channel to the host's services for `service_id` (mutual TLS, `localhost`)."""
        info = await self._conn_info(service_id)
        config = Configuration(ssl_target_name_override=HOST_NAME)
        if info.network == "unix":
            return Channel(path=info.address, ssl=self._tls, config=config)
        host, _, port = info.address.rpartition(":")
        return Channel(host.strip("[]"), int(port), ssl=self._tls, config=config)
