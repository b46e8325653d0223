"""The httpx transport under the Graph client: one keep-alive connection per call in flight.

httpcore's connection pool walks all its connections whenever a request starts or ends,
polling each idle socket and, for each, counting the idle ones: quadratic in the pool
size. With 32 Graph calls in flight that walk cost more CPU than the rest of issuing a
credential. Here each request gets a transport of its own (an httpcore pool of one
connection), the most recently freed first, so the walk is one step and warm connections
are reused; idle ones close after httpcore's keep-alive expiry.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import cast

import httpx

__all__ = ["ConnectionPerCallTransport"]


class ConnectionPerCallTransport(httpx.AsyncBaseTransport):
    """Hands each request a one-connection transport, taken back when its body is closed.

    There are as many transports as requests were ever in flight at once: the Graph
    client's call slots bound that (GraphClient.max_concurrent).
    """

    def __init__(self, *, verify: ssl.SSLContext | bool) -> None:
        self._verify = verify
        self._idle: list[httpx.AsyncHTTPTransport] = []
        self._all: list[httpx.AsyncHTTPTransport] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._idle.pop() if self._idle else self._new()
        try:
            response = await transport.handle_async_request(request)
        except BaseException:
            self._idle.append(transport)
            raise
        stream = cast(httpx.AsyncByteStream, response.stream)  # an async transport's
        response.stream = _GivesBackOnClose(stream, transport, self._idle)
        return response

    @property
    def connections(self) -> int:
        """How many one-connection transports exist (each holds at most one connection)."""
        return len(self._all)

    @property
    def idle(self) -> int:
        """How many of them no request is using."""
        return len(self._idle)

    async def aclose(self) -> None:
        transports, self._all, self._idle = self._all, [], []
        for transport in transports:
            await transport.aclose()

    def _new(self) -> httpx.AsyncHTTPTransport:
        transport = httpx.AsyncHTTPTransport(
            verify=self._verify,
            # CA bundles come from the config, never from the environment.
            trust_env=False,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )
        self._all.append(transport)
        return transport


class _GivesBackOnClose(httpx.AsyncByteStream):
    """A response body that returns its transport to the idle list once closed."""

    def __init__(
        self,
        stream: httpx.AsyncByteStream,
        transport: httpx.AsyncHTTPTransport,
        idle: list[httpx.AsyncHTTPTransport],
    ) -> None:
        self._stream = stream
        self._transport: httpx.AsyncHTTPTransport | None = transport
        self._idle = idle

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            transport, self._transport = self._transport, None
            if transport is not None:
                self._idle.append(transport)
