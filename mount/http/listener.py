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
import re
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import (
    BadHttpMessage,
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)
from aiohttp.web_request import BaseRequest

from mount.http.app import HTTP_PARSER_LIMITS

__all__ = [
    "DEFAULT_LIMITS",
    "PLAIN_HTTP_TO_TLS",
    "ListenerLimits",
    "ListenerSite",
    "listening_sockets",
    "start_serving",
]

logger = logging.getLogger(__name__)

# What Go's http.Server writes to a plain-HTTP client of a TLS listener, byte for byte.
PLAIN_HTTP_TO_TLS = (
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
)
_TLS_HANDSHAKE_RECORD = 0x16
# The kernel caps it at net.core.somaxconn, the backlog Go's listeners ask for: a burst
# of clients (or connections waiting while max_connections are open) queues there
# instead of retrying its SYN a second later.
_BACKLOG = 4096
# Accept errors that mean "out of descriptors or memory for now": wait, then go on.
_ACCEPT_RESOURCE_ERRORS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}
_ACCEPT_RETRY_SECONDS = 1.0
# llhttp's own reason, ahead of the quoted bytes in the C parser's message.
_LLHTTP_REASON = re.compile(r"([A-Za-z][A-Za-z0-9 ,.'`_-]{0,80}):\n\n ")


@dataclass(frozen=True, slots=True)
class ListenerLimits:
    """Vault's listener timeouts (seconds; 0 turns one off) and our bound on open
    connections (0: none)."""

    read_header_timeout: float = 10.0
    idle_timeout: float = 300.0
    max_connections: int = 1024


DEFAULT_LIMITS = ListenerLimits()


class _Slots:
    """The open connections of one listener (all its sockets), against its limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.connections: set[_Connection] = set()
        self._freed = asyncio.Event()

    def take(self) -> None:
        self.open += 1

    def give_back(self) -> None:
        self.open -= 1
        self._freed.set()

    async def room(self) -> None:
        """Return once one more connection may be accepted."""
        while self.limit and self.open >= self.limit:
            idle = next((c for c in self.connections if c.idle()), None)
            if idle is not None:
                # Its slot comes back when its transport has closed.
                logger.debug("closed an idle keep-alive connection: max_connections reached")
                idle.force_close()
            self._freed.clear()
            await self._freed.wait()


def _malformed_reason(exc: HttpProcessingError) -> str:
    """What was wrong with a refused request, in words that quote none of its bytes."""
    if isinstance(exc, LineTooLong):
        return "a request line or header field longer than allowed"
    if isinstance(exc, BadHttpMethod):
        if "HTTPS traffic" in exc.message:
            return "a TLS handshake sent to a plain-HTTP listener"
        return "an invalid method"
    if isinstance(exc, InvalidHeader):
        return "an invalid header field"
    if isinstance(exc, InvalidURLError):
        return "an invalid request target"
    if isinstance(exc, BadStatusLine):
        return "an invalid request line"
    found = _LLHTTP_REASON.match(exc.message) if isinstance(exc, BadHttpMessage) else None
    if found is None:
        return "a malformed request line or header"
    reason = found.group(1)  # "Invalid header token"
    return reason[0].lower() + reason[1:]


class _Connection(web_protocol.RequestHandler):
    """aiohttp's connection handler with the header timer, the slot, and quiet errors."""

    __slots__ = ("_header_timeout", "_header_timer", "_last_payload", "_slots", "_holds_slot")

    def __init__(
        self, manager: web.Server, slots: _Slots, *, header_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(manager, **kwargs)
        self._slots = slots
        # The slot its accept took; given back once, whichever way the connection ends.
        self._holds_slot = True
        self._header_timeout = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None
        self._last_payload: Any = None

    def release_slot(self) -> None:
        if self._holds_slot:
            self._holds_slot = False
            self._slots.give_back()

    # -- the connection's life --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._slots.connections.add(self)
        super().connection_made(transport)
        self._start_header_clock()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_header_clock()
        self._slots.connections.discard(self)
        super().connection_lost(exc)
        self.release_slot()

    def data_received(self, data: bytes) -> None:
        requests = self._request_count
        super().data_received(data)
        if self._request_count != requests:
            # A whole header arrived (or a refusal was queued): its clock stops.
            self._stop_header_clock()
            if self._messages:
                self._last_payload = self._messages[-1][1]
        elif data and self._header_timer is None and not self._reading_body():
            # The first bytes of the next request: its header is on the clock.
            self._start_header_clock()

    def idle(self) -> bool:
        """Between requests on a keep-alive connection, with nothing half-sent."""
        waiter = self._waiter
        return (
            self._request_count > 0
            and waiter is not None
            and not waiter.done()
            and not self._messages
            and self._header_timer is None
            and not self._force_close
        )

    def _reading_body(self) -> bool:
        return self._last_payload is not None and not self._last_payload.is_eof()

    # -- the header timer ---------------------------------------------------------------

    def _start_header_clock(self) -> None:
        if self._header_timeout <= 0 or self._force_close:
            return
        deadline = self._loop.time() + self._header_timeout
        self._header_timer = self._loop.call_at(deadline, self._header_timed_out)
        # aiohttp's idle timer must not cut a request whose header is on its own clock.
        self._next_keepalive_close_time = max(self._next_keepalive_close_time, deadline)

    def _stop_header_clock(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self._request_in_progress or self._messages:
            # A pipelined request's header: its clock starts once those before it are
            # answered, as Go reads the next request only then.
            self._start_header_clock()
            return
        logger.debug(
            "closed a connection that sent no complete request header within %gs",
            self._header_timeout,
            extra={"remote": self._remote()},
        )
        self.force_close()

    def _remote(self) -> str:
        peer = self.transport.get_extra_info("peername") if self.transport else None
        return str(peer[0]) if isinstance(peer, tuple) and peer else ""

    # -- refused requests -----------------------------------------------------------------

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        logger.warning(
            "refused a malformed HTTP request",
            extra={"remote": request.remote or "", "reason": _malformed_reason(exc)},
        )
        # Go's answer to a request it cannot parse; it echoes none of the bytes either.
        response = web.Response(status=status, text=f"{status} {HTTPStatus(status).phrase}")
        response.force_close()
        return response


class _PlainHttpRefusal(asyncio.Protocol):
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


async def _peek_first_byte(sock: socket.socket) -> bytes:
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


class ListenerSite(web.BaseSite):
    """An aiohttp site on one bound listening socket, with the rules above."""

    def __init__(
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: ListenerLimits = DEFAULT_LIMITS,
        slots: _Slots | None = None,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self._sock = sock
        self._limits = limits
        self._slots = slots or _Slots(limits.max_connections)
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

    def _connection(self) -> _Connection:
        server = self._runner.server
        assert server is not None
        return _Connection(
            server,
            self._slots,
            loop=asyncio.get_running_loop(),
            header_timeout=self._limits.read_header_timeout,
            keepalive_timeout=self._limits.idle_timeout,
            access_log=None,
            **HTTP_PARSER_LIMITS,
        )

    async def _serve(self, conn: socket.socket) -> None:
        made: list[_Connection] = []

        def factory() -> _Connection:
            made.append(self._connection())
            return made[0]

        try:
            await asyncio.get_running_loop().connect_accepted_socket(factory, conn)
        except Exception as exc:  # noqa: BLE001 - one connection's failure, not the loop's
            self._lost_before_serving(conn, made, exc)

    async def _serve_tls(self, conn: socket.socket, context: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        timeout = self._limits.read_header_timeout or None
        try:
            async with asyncio.timeout(timeout):
                first = await _peek_first_byte(conn)
        except (TimeoutError, OSError):
            first = b""
        if not first:
            conn.close()
            self._slots.give_back()
            return
        if first[0] != _TLS_HANDSHAKE_RECORD:
            done: asyncio.Future[None] = loop.create_future()
            try:
                await loop.connect_accepted_socket(
                    lambda: _PlainHttpRefusal(done, timeout or 10.0), conn
                )
                await done
            except OSError:
                conn.close()
            finally:
                self._slots.give_back()
            return
        made: list[_Connection] = []

        def factory() -> _Connection:
            made.append(self._connection())
            return made[0]

        try:
            await loop.connect_accepted_socket(
                factory, conn, ssl=context, ssl_handshake_timeout=timeout
            )
        except Exception as exc:  # noqa: BLE001 - a failed or timed-out handshake
            self._lost_before_serving(conn, made, exc)

    def _lost_before_serving(
        self, conn: socket.socket, made: list[_Connection], exc: BaseException
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
    slots = _Slots(limits.max_connections)  # one limit across the listener's sockets
    try:
        for sock in sockets:
            site = ListenerSite(runner, sock, ssl_context=ssl_context, limits=limits, slots=slots)
            await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
