"""go-plugin's and OpenBao's small services: health, controller, stdio, version, multiplexing."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from google.protobuf import empty_pb2

from goplugin.proto import (
    grpc_controller_grpc,
    grpc_controller_pb2,
    grpc_stdio_grpc,
    grpc_stdio_pb2,
    health_grpc,
    health_pb2,
    multiplexing_grpc,
    multiplexing_pb2,
    version_grpc,
    version_pb2,
)

if TYPE_CHECKING:
    from grpclib.server import Stream

__all__ = ["Controller", "Health", "Multiplexing", "Stdio", "Version"]

logger = logging.getLogger(__name__)


class Health(health_grpc.HealthBase):
    """Always SERVING (the host asks for the service named "plugin")."""

    async def Check(
        self, stream: Stream[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]
    ) -> None:
        await stream.recv_message()
        await stream.send_message(
            health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        )

    async def Watch(
        self, stream: Stream[health_pb2.HealthCheckRequest, health_pb2.HealthCheckResponse]
    ) -> None:
        await stream.recv_message()
        await stream.send_message(
            health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)
        )


class Controller(grpc_controller_grpc.GRPCControllerBase):
    """The host's Shutdown: answer, then let the server stop."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self.stopping = stopping

    async def Shutdown(
        self, stream: Stream[grpc_controller_pb2.Empty, grpc_controller_pb2.Empty]
    ) -> None:
        await stream.recv_message()
        await stream.send_message(grpc_controller_pb2.Empty())
        logger.info("shutdown asked by the host")
        self.stopping.set()


class Stdio(grpc_stdio_grpc.GRPCStdioBase):
    """Kept open and silent: our stderr reaches the host's log directly, stdout holds
    only the handshake line."""

    def __init__(self, stopping: asyncio.Event) -> None:
        self.stopping = stopping

    async def StreamStdio(self, stream: Stream[empty_pb2.Empty, grpc_stdio_pb2.StdioData]) -> None:
        await stream.recv_message()
        await stream.send_initial_metadata()
        await self.stopping.wait()


class Version(version_grpc.PluginVersionBase):
    def __init__(self, version: str) -> None:
        self.version = version

    async def Version(self, stream: Stream[version_pb2.Empty, version_pb2.VersionReply]) -> None:
        await stream.recv_message()
        await stream.send_message(version_pb2.VersionReply(plugin_version=self.version))


class Multiplexing(multiplexing_grpc.PluginMultiplexingBase):
    """Yes: one process serves every mount (each call names its mount in metadata)."""

    async def MultiplexingSupport(
        self,
        stream: Stream[
            multiplexing_pb2.MultiplexingSupportRequest,
            multiplexing_pb2.MultiplexingSupportResponse,
        ],
    ) -> None:
        await stream.recv_message()
        await stream.send_message(multiplexing_pb2.MultiplexingSupportResponse(supported=True))
