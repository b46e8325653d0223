"""Serve the HTTP method LIST, which hvac and the Vault API send, at the C parser's speed.

aiohttp's C parser (llhttp) rejects methods outside its table (LIST among them, and any
lower-case or made-up token, which Go's server and so Vault accept) with 400 before any
handler runs; its pure-Python parser accepts any token but costs about a fifth of a bare
request's time. So each connection starts on the C parser and moves to the Python one
for good the first time the C parser refuses a method. `bao` sends GET ?list=true and
never pays for the switch; hvac's connections switch at their first LIST.

The C parser cannot hand over what it has half-parsed, and it drops the requests it
completed in the chunk where it fails. So the bytes since it last held no partial
request are kept, and at the switch a fresh Python parser is fed them again and skips
the requests already handed out: a LIST pipelined behind a request split over several
reads is answered in order with the rest. The C parser holds no partial request when a
chunk ends with CRLF CRLF and the last request's body (if any) is complete: a partial
request cannot end so, as that blank line would have ended its headers. Kept bytes are
capped (_KEPT_BYTES); past the cap (long bodies back to back) only the failing chunk is
fed again, which is right when it starts a request, as clients write one request per
write. Bytes that do not start with a method token (TLS on the plain port, binary junk)
keep the C parser's refusal.
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
# Replayed requests' bodies go into streams nobody reads: below their high-water mark
# (twice aiohttp's 64 KiB read limit) they never pause the connection.
_KEPT_BYTES = 64 * 1024
_END_OF_HEADERS = b"\r\n\r\n"


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
        # The bytes fed since the C parser last held no partial request (None: more
        # than _KEPT_BYTES, not kept), and how many requests they have given so far.
        self._kept: list[bytes] | None = []
        self._kept_size = 0
        self._given = 0
        self._last_payload: Any = None

    def feed_data(self, data: bytes) -> Any:
        if self._kept is not None and data:
            if self._kept_size + len(data) > _KEPT_BYTES:
                self._kept, self._kept_size = None, 0
            else:
                self._kept.append(data)
                self._kept_size += len(data)
        try:
            result = self._parser.feed_data(data)
        except BadHttpMethod as exc:
            return self._switch(data, exc)
        messages = result[0]
        if messages:
            self._given += len(messages)
            self._last_payload = messages[-1][1]
            if self._max_queue:
                self._in_flight += len(messages)
        if self._between_requests(data):
            self._kept, self._kept_size, self._given = [], 0, 0
        return result

    def _between_requests(self, data: bytes) -> bool:
        """Whether the C parser holds no partial request after this chunk."""
        last = data or (self._kept[-1] if self._kept else b"")
        return (
            last.endswith(_END_OF_HEADERS)
            and self._given > 0
            and self._last_payload.is_eof()
            # At the queue limit it may hold back a tail of its own.
            and not self._queue_full()
        )

    def _queue_full(self) -> bool:
        return bool(self._max_queue) and self._in_flight >= self._max_queue

    def _switch(self, data: bytes, refused: BadHttpMethod) -> Any:
        """Move this connection to a fresh Python parser, replaying the kept bytes; from
        now on the protocol calls it directly (no wrapper frame per chunk)."""
        if self._kept is not None:
            replay, skip = b"".join(self._kept), self._given
        elif not self._queue_full():
            # Nothing kept: only a chunk that starts a request can be fed again alone.
            replay, skip = data, 0
        else:
            raise refused
        # Either way the replay starts a request: one that does not start with a method
        # token (TLS on the plain port, binary junk) keeps the C parser's refusal.
        if _METHOD_START.match(replay.lstrip(b"\r\n")) is None:
            raise refused
        parser = http_parser.HttpRequestParserPy(*self._arguments, **self._keywords)
        # The replay must not stop at the queue limit among the requests it skips.
        parser._max_msg_queue_size = 0
        messages, upgraded, tail = parser.feed_data(replay)
        parser._max_msg_queue_size = self._max_queue
        messages = messages[skip:]
        if self._max_queue:
            parser._msg_in_flight = self._in_flight + len(messages)
        self._parser, self._kept = parser, None
        for name in ("feed_data", "message_consumed", "feed_eof", "set_upgraded"):
            setattr(self, name, getattr(parser, name))
        return messages, upgraded, tail

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
