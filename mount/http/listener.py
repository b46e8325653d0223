"""The TCP listener in front of the aiohttp app, with the connection rules of Vault's
listener (Go's http.Server) that aiohttp lacks.

- A connection has `read_header_timeout` (Vault's `http_read_header_timeout`, 10 s) to
  send a complete request header, counted from the connection's start for its first
  request (on TLS, from the end of the handshake, which has as long to arrive and as
  long to finish) and from the first byte of each later one, and is closed without an
  answer when it does not, as Go does: a client that connects and sends nothing, or
  dribbles a header (slowloris), holds a connection for seconds, not forever. aiohttp
  has no such timer.
- A keep-alive connection idle for `idle_timeout` (`http_idle_timeout`, 5 min) is closed
  (aiohttp's `keepalive_timeout`).
- At most `max_connections` connections are open at once. At the limit an idle
  keep-alive connection is closed to make room (nginx does the same); when none is
  idle, accepting waits until one closes, as Go's `netutil.LimitListener` does, so new
  connections queue in the kernel's backlog while the open ones are served.
- On a TLS listener, a connection whose first byte is not a TLS handshake record (0x16)
  gets Go's plain-text answer, `HTTP/1.0 400 Bad Request` with
  `Client sent an HTTP request to an HTTPS server.`, instead of a dropped handshake. The
  byte is peeked before the TLS layer starts, so a real handshake reads it again.
- A malformed request line or header is logged as one warning line naming the client
  and the kind of fault, never the request's bytes: aiohttp's own log line is a
  traceback quoting up to 64 KiB of the request, token header included.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from mount.http.app import HTTP_PARSER_LIMITS
from mount.http.connection import Connection, Slots
from mount.http.plain_http import (
    PLAIN_HTTP_TO_TLS,
    TLS_HANDSHAKE_RECORD,
    PlainHttpRefusal,
    peek_first_byte,
)

__all__ = [
    "DEFAULT_LIMITS",
    "PLAIN_HTTP_TO_TLS",
    "ListenerLimits",
    "ListenerSite",
    "listening_sockets",
    "start_serving",
]

logger = logging.getLogger(__name__)

# The kernel caps it at net.core.somaxconn, the backlog Go's listeners ask for: a burst
# of clients (or connections waiting while max_connections are open) queues there
# instead of retrying its SYN a second later.
_BACKLOG = 4096
# Accept errors that mean "out of descriptors or memory for now": wait, then go on.
_ACCEPT_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_ACCEPT_RETRY_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    """Vault's listener timeouts (seconds; 0 turns one off) and our bound on open
    connections (0: none)."""

    read_header_timeout: float = 10.0
    idle_timeout: float = 300.0
    max_connections: int = 1024


DEFAULT_LIMITS = ListenerLimits()


class ListenerSite(web.BaseSite):
    """An aiohttp site on one bound listening socket, with the rules above."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: ListenerLimits = DEFAULT_LIMITS,
        slots: Slots | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._sock = sock
        self._limits = limits
        self._slots = slots or Slots(limits.max_connections)
        self._accepting: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        host, port = sock.getsockname()[:2]
        scheme = "https" if ssl_context else "http"
        shown = f"[{host}]" if ":" in host else host
        self._name = f"{scheme}://{shown}:{port}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def listening_socket(self) -> socket.socket:
        return self._sock

    async def start(self) -> None:
        await super().start()
        self._sock.setblocking(False)
        self._accepting = asyncio.get_running_loop().create_task(self._accept_forever())

    async def stop(self) -> None:
        self._runner._check_site(self)
        if self._accepting is not None:
            self._accepting.cancel()
            await asyncio.gather(self._accepting, return_exceptions=True)
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._sock.close()
        self._runner._unreg_site(self)

    # -- accepting ------------------------------------------------------------------------

    async def _accept_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.room()
            try:
                conn, _ = await loop.sock_accept(self._sock)
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                continue
            except OSError as exc:
                hint = (
                    " (lower max_connections or raise the open-file limit, ulimit -n)"
                    if exc.errno in _ACCEPT_RESOURCE_ERRORS
                    else ""
                )
                logger.warning(
                    "cannot accept a connection: %s; retrying in %gs%s",
                    exc.strerror or exc,
                    _ACCEPT_RETRY_SECONDS,
                    hint,
                )
                await asyncio.sleep(_ACCEPT_RETRY_SECONDS)
                continue
            self._slots.take()
            conn.setblocking(False)
            if conn.family in (socket.AF_INET, socket.AF_INET6):
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ssl_context is None:
                await self._serve(conn)
            else:
                task = loop.create_task(self._serve_tls(conn, self._ssl_context))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    def _connection(self) -> Connection:
        server = self._runner.server
        assert server is not None
        return Connection(
            server,
            self._slots,
            loop=asyncio.get_running_loop(),
            header_timeout=self._limits.read_header_timeout,
            keepalive_timeout=self._limits.idle_timeout,
            access_log=None,
            **HTTP_PARSER_LIMITS,
        )

    async def _serve(self, conn: socket.socket) -> None:
        made: list[Connection] = []

        def factory() -> Connection:
            made.append(self._connection())
            return made[0]

        try:
            await asyncio.get_running_loop().connect_accepted_socket(factory, conn)
        except Exception as exc:
            self._lost_before_serving(conn, made, exc)

    async def _serve_tls(self, conn: socket.socket, context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        timeout = self._limits.read_header_timeout or None
        try:
            async with asyncio.timeout(timeout):
                first = await peek_first_byte(conn)
        except (TimeoutError, OSError):
            first = b""
        if not first:
            conn.close()
            self._slots.give_back()
            return
        if first[0] != TLS_HANDSHAKE_RECORD:
            done: asyncio.Future[None] = loop.create_future()
            try:
                await loop.connect_accepted_socket(
                    lambda: PlainHttpRefusal(done, timeout or 10.0), conn
                )
                await done
            except OSError:
                conn.close()
            finally:
                self._slots.give_back()
            return
        made: list[Connection] = []

        def factory() -> Connection:
            made.append(self._connection())
            return made[0]

        try:
            await loop.connect_accepted_socket(
                factory, conn, ssl=context, ssl_handshake_timeout=timeout
            )
        except Exception as exc:
            self._lost_before_serving(conn, made, exc)

    def _lost_before_serving(
        self, conn: socket.socket, made: list[Connection], exc: BaseException
    ) -> None:
        """A connection that failed before its handler saw it (a TLS handshake that
        failed or timed out): its slot comes back here, not from the handler."""
        logger.debug("connection closed before serving: %s", exc)
        conn.close()  # a no-op when its transport closed it already
        if made:
            made[0].release_slot()
        else:
            self._slots.give_back()


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Bound, listening sockets for host:port, one per address family it resolves to."""
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, where in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # As asyncio does: the IPv6 socket does not also take the IPv4 address.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(where)
            sock.listen(_BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


async def start_serving(
    app: web.Application,
    sockets: Sequence[socket.socket],
    *,
    ssl_context: ssl.SSLContext | None = None,
    limits: ListenerLimits = DEFAULT_LIMITS,
) -> web.AppRunner:
    """Serve `app` on the bound sockets; `runner.cleanup()` stops it."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, **HTTP_PARSER_LIMITS)
    await runner.setup()
    slots = Slots(limits.max_connections)  # one limit across the listener's sockets
    try:
        for sock in sockets:
            site = ListenerSite(runner, sock, ssl_context=ssl_context, limits=limits, slots=slots)
            await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
