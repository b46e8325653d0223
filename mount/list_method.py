"""Serve the HTTP method LIST, which hvac and the Vault API send, at the C parser's speed.

aiohttp's C parser (llhttp) rejects methods outside its table (LIST among them, and any
lower-case or made-up token, which Go's server and so Vault accept) with 400 before any
handler runs; its pure-Python parser accepts any token but costs about a fifth of a bare
request's time. So each connection starts on the C parser and moves to the Python one
for good the first time the C parser refuses a method in a chunk that starts with a
token and a space (`LIST /v1/...`, or `GET ...` with a LIST pipelined behind it). Such a
chunk starts a new message (clients send a request in one write), so the whole chunk is
fed again to a fresh Python parser and no request is lost; a pipelined LIST behind a
request split over several reads would be answered 400, as with the C parser alone.
`bao` sends GET ?list=true and never pays for the switch; hvac's connections switch at
their first LIST. Other refusals (TLS on the plain port, binary junk) keep the C
parser's answer.

Only when the C parser may still hold bytes of its own (it stops parsing, keeping the
rest, once a connection has `max_msg_queue_size` requests waiting; the protocol then
stops reading until it drains) is the refusal left as it is: re-feeding would drop the
held requests, and a client pipelining that many requests before a LIST is not one we
serve.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import http_parser, web_protocol
from aiohttp.http_exceptions import BadHttpMethod

__all__ = ["HybridRequestParser", "enable_list_method"]

# An HTTP token (RFC 9110 tchar) then a space, or a token cut by the end of the chunk.
_METHOD_START = re.compile(rb"[0-9A-Za-z!#$%&'*+\-.^_`|~]+(?: |\Z)")


class HybridRequestParser:
    """aiohttp's request parser interface: the C parser until a LIST, then the Python one."""

    def __init__(
        self,
        protocol: Any,
        loop: asyncio.AbstractEventLoop,
        limit: int,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        # Kept to build the Python parser with the very same limits if this connection
        # ever sends LIST.
        self._arguments = (protocol, loop, limit, *args)
        self._keywords = kwargs
        self._max_queue = int(kwargs.get("max_msg_queue_size", 0))
        self._parser: Any = http_parser.HttpRequestParserC(protocol, loop, limit, *args, **kwargs)
        # Requests handed out and not yet consumed, mirroring the C parser's own count:
        # at the queue limit it may be holding unparsed bytes.
        self._in_flight = 0
        self._may_hold_bytes = False

    def feed_data(self, data: bytes) -> Any:
        try:
            result = self._parser.feed_data(data)
        except BadHttpMethod:
            if self._may_hold_bytes or _METHOD_START.match(data) is None:
                raise
            return self._switch().feed_data(data)
        if self._max_queue and result[0]:
            self._in_flight += len(result[0])
            self._may_hold_bytes = self._in_flight >= self._max_queue
        return result

    def _switch(self) -> Any:
        """Move this connection to a fresh Python parser; from now on the protocol calls
        it directly (no wrapper frame per chunk)."""
        self._parser = http_parser.HttpRequestParserPy(*self._arguments, **self._keywords)
        for name in ("feed_data", "message_consumed", "feed_eof", "set_upgraded"):
            setattr(self, name, getattr(self._parser, name))
        return self._parser

    def message_consumed(self) -> None:
        if self._in_flight > 0:
            self._in_flight -= 1
        self._parser.message_consumed()

    def feed_eof(self) -> Any:
        return self._parser.feed_eof()

    def set_upgraded(self, val: bool) -> None:
        self._parser.set_upgraded(val)

    def pause_reading(self) -> None:
        self._parser.pause_reading()


def enable_list_method() -> None:
    """Make aiohttp servers in this process parse requests with the hybrid parser."""
    if getattr(http_parser, "HttpRequestParserC", None) is None:  # no C extension built
        parser: Any = http_parser.HttpRequestParserPy
    else:
        parser = HybridRequestParser
    setattr(web_protocol, "HttpRequestParser", parser)  # noqa: B010
