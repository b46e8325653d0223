"""Plain HTTP sent to a TLS listener: Go's 400 answer instead of a dropped handshake."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

__all__ = ["PLAIN_HTTP_TO_TLS", "TLS_HANDSHAKE_RECORD", "PlainHttpRefusal", "peek_first_byte"]


# What Go's http.Server writes to a plain-HTTP client of a TLS listener, byte for byte.
PLAIN_HTTP_TO_TLS = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)


TLS_HANDSHAKE_RECORD = 0x16


class PlainHttpRefusal(asyncio.Protocol):
    """Writes Go's 400 to a plain-HTTP client of a TLS listener, then closes once the
    client has read it (closing with its request unread would reset the connection and
    could drop the answer)."""

    def __init__(self, done: asyncio.Future[None], linger: float) -> None:
        self._done = done
        self._linger = linger
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are not asyncio.Transport instances, only alike.)
        transport = cast(asyncio.Transport, transport)
        transport.write(PLAIN_HTTP_TO_TLS)
        if transport.can_write_eof():
            transport.write_eof()
        self._timer = asyncio.get_running_loop().call_later(self._linger, transport.close)

    def data_received(self, data: bytes) -> None:
        """The rest of the request: read and dropped."""

    def eof_received(self) -> bool:
        return False  # the client is done: close

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if not self._done.done():
            self._done.set_result(None)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def peek_first_byte(sock: socket.socket) -> bytes:
    """The connection's first byte, left unread for whoever reads next (b"" at EOF)."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return sock.recv(1, socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            pass
        readable: asyncio.Future[None] = loop.create_future()
        loop.add_reader(sock.fileno(), _wake, readable)
        try:
            await readable
        finally:
            loop.remove_reader(sock.fileno())
