"""The hybrid request parser (mount/http/list_method.py) fed a byte stream cut anywhere: every
request comes out once, in order, with its body, whatever the cuts and wherever the LIST
that moves the connection to the Python parser falls."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import http_parser
from aiohttp.http_exceptions import BadHttpMessage, BadHttpMethod

from mount.http.list_method import HybridRequestParser

pytestmark = pytest.mark.skipif(
    getattr(http_parser, "HttpRequestParserC", None) is None, reason="no C parser built"
)


class _Protocol:
    """What the parser's body streams call on their protocol."""

    _reading_paused = False

    def pause_reading(self, *, pause_parser: bool = True) -> None:
        self._reading_paused = True

    def resume_reading(self, *, resume_parser: bool = True) -> None:
        self._reading_paused = False


def _request(method: str, path: str, body: bytes = b"") -> bytes:
    head = f"{method} /v1/{path} HTTP/1.1\r\nHost: broker\r\nX-Vault-Token: t\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


STREAM = [
    ("GET", "/v1/auth/token/lookup-self", b""),
    ("POST", "/v1/sys/policies/acl/a", b'{"policy": "path \\"x\\" {}\\r\\n\\r\\n"}'),
    ("GET", "/v1/sys/health", b""),
    ("LIST", "/v1/sys/policies/acl", b""),
    ("GET", "/v1/sys/health", b""),
    ("LIST", "/v1/auth/token/accessors", b""),
    ("PUT", "/v1/sys/leases/renew", b"{}"),
]
WIRE = b"".join(_request(method, path[4:], body) for method, path, body in STREAM)


class _Feeder:
    """Feeds chunks as aiohttp's protocol does, consuming what comes out."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_queue: int) -> None:
        self.parser = HybridRequestParser(
            _Protocol(),
            loop,
            2**16,
            max_line_size=64 * 1024,
            max_field_size=64 * 1024,
            max_headers=100,
            max_msg_queue_size=max_queue,
        )
        self.out: list[tuple[str, str, Any]] = []

    def feed(self, chunk: bytes) -> None:
        messages, _, _ = self.parser.feed_data(chunk)
        while messages:
            for message, payload in messages:
                self.out.append((message.method, message.path, payload))
                self.parser.message_consumed()
            # The protocol asks for held-back requests once its queue drains.
            messages, _, _ = self.parser.feed_data(b"")

    def seen(self) -> list[tuple[str, str, bytes]]:
        return [
            (method, path, payload.read_nowait(-1) if payload.is_eof() else b"?")
            for method, path, payload in self.out
        ]


@pytest.mark.parametrize("max_queue", [0, 2])
async def test_every_two_way_cut_of_a_pipelined_stream(max_queue: int) -> None:
    loop = asyncio.get_running_loop()
    for cut in range(1, len(WIRE)):
        feeder = _Feeder(loop, max_queue)
        feeder.feed(WIRE[:cut])
        feeder.feed(WIRE[cut:])
        assert feeder.seen() == STREAM, f"cut at {cut}: {WIRE[:cut][-40:]!r}"


async def test_three_way_cuts_around_the_first_list() -> None:
    loop = asyncio.get_running_loop()
    start = WIRE.index(b"LIST ")
    for first in range(1, start):
        for second in range(max(first + 1, start - 30), min(len(WIRE), start + 30)):
            feeder = _Feeder(loop, 2)
            for chunk in (WIRE[:first], WIRE[first:second], WIRE[second:]):
                feeder.feed(chunk)
            assert feeder.seen() == STREAM, f"cuts at {first}, {second}"


async def test_a_get_split_mid_header_then_a_list_in_the_second_half() -> None:
    # The shape of issue 13 point 14: the C parser completes the GET, then meets LIST.
    feeder = _Feeder(asyncio.get_running_loop(), 0)
    get, listed = _request("GET", "sys/health"), _request("LIST", "sys/policies/acl")
    feeder.feed(get[:20])
    assert feeder.out == []
    feeder.feed(get[20:] + listed)
    assert [(m, p) for m, p, _ in feeder.out] == [
        ("GET", "/v1/sys/health"),
        ("LIST", "/v1/sys/policies/acl"),
    ]


async def test_non_http_bytes_are_still_refused() -> None:
    feeder = _Feeder(asyncio.get_running_loop(), 0)
    with pytest.raises(BadHttpMethod):
        feeder.feed(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    after_list = _Feeder(asyncio.get_running_loop(), 0)
    after_list.feed(_request("LIST", "sys/policies/acl"))
    with pytest.raises(BadHttpMessage):
        after_list.feed(b"GET /v1/sys/health HTTP/1.1\r\nno colon here\r\n\r\n")
