"""One client connection: the header clock, the idle rule, the connection slots, and a
malformed request logged as one line without its bytes (see mount/http/listener.py)."""

from __future__ import annotations

import asyncio
import logging
import re
from http import HTTPStatus
from typing import Any

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

__all__ = ["Connection", "Slots"]

logger = logging.getLogger("mount.http.listener")


# llhttp's own reason, ahead of the quoted bytes in the C parser's message.
_LLHTTP_REASON = re.compile(r"([A-Za-z][A-Za-z0-9 ,.'`_-]{0,80}):\n\n ")


class Slots:
    """The open connections of one listener (all its sockets), against its limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.connections: set[Connection] = set()
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


class Connection(web_protocol.RequestHandler):
    """aiohttp's connection handler with the header timer, the slot, and quiet errors."""

    __slots__ = ("_header_timeout", "_header_timer", "_last_payload", "_slots", "_holds_slot")

    def __init__(
        self, manager: web.Server, slots: Slots, *, header_timeout: float, **kwargs: Any
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
