"""The LIST method on keep-alive connections that start on aiohttp's C parser.

Each connection parses with llhttp until it sends a method llhttp refuses (LIST, a
lower-case verb), then with the pure-Python parser for good (mount/http/list_method.py).
"""

from __future__ import annotations

import json
import socket
import time

import hvac

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import HTTP_TIMEOUT, ROOT_TOKEN


def _request(method: str, path: str) -> bytes:
    return (
        f"{method} /v1/{path} HTTP/1.1\r\nHost: broker\r\nX-Vault-Token: {ROOT_TOKEN}\r\n\r\n"
    ).encode()


class RawConnection:
    """One keep-alive TCP connection reading Content-Length framed answers."""

    def __init__(self, broker: BrokerThread) -> None:
        self.sock = socket.create_connection(("127.0.0.1", broker.port), timeout=HTTP_TIMEOUT)
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def answer(self) -> tuple[int, dict[str, object]]:
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buffer) < length:
            self._read()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(lines[0].split(" ")[1]), json.loads(body)

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, "the broker closed the connection"
        self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def test_raw_list_after_gets_and_get_after_list_on_one_connection(broker: BrokerThread) -> None:
    conn = RawConnection(broker)
    try:
        for _ in range(3):
            conn.send(_request("GET", "auth/token/lookup-self"))
            status, body = conn.answer()
            assert status == 200 and body["data"]["policies"] == ["root"]  # type: ignore[index]
        conn.send(_request("LIST", "sys/policies/acl"))
        status, body = conn.answer()
        assert status == 200 and "root" in body["data"]["keys"]  # type: ignore[index]
        conn.send(_request("GET", "auth/token/lookup-self"))
        assert conn.answer()[0] == 200
        # Pipelined in one chunk: a GET then a LIST, both answered in order.
        conn.send(_request("GET", "auth/token/lookup-self") + _request("LIST", "sys/policies/acl"))
        first, second = conn.answer(), conn.answer()
        assert first[0] == 200 and "policies" in first[1]["data"]  # type: ignore[operator]
        assert second[0] == 200 and "keys" in second[1]["data"]  # type: ignore[operator]
    finally:
        conn.close()


def test_pipelined_get_and_list_in_the_first_chunk(broker: BrokerThread) -> None:
    conn = RawConnection(broker)
    try:
        conn.send(_request("GET", "auth/token/lookup-self") + _request("LIST", "sys/policies/acl"))
        assert conn.answer()[0] == 200
        assert conn.answer()[0] == 200
    finally:
        conn.close()


def test_lower_case_method_is_served_not_a_parser_400(broker: BrokerThread) -> None:
    conn = RawConnection(broker)
    try:
        conn.send(_request("GET", "auth/token/lookup-self"))
        assert conn.answer()[0] == 200
        conn.send(_request("get", "auth/token/lookup-self"))
        status, body = conn.answer()
        assert status == 200 and body["data"]["policies"] == ["root"]  # type: ignore[index]
    finally:
        conn.close()


def test_hvac_list_between_reads_on_its_session(broker: BrokerThread) -> None:
    client = hvac.Client(url=broker.url, token=ROOT_TOKEN, timeout=HTTP_TIMEOUT)
    for _ in range(2):
        assert client.lookup_token()["data"]["policies"] == ["root"]
        assert "root" in client.sys.list_acl_policies()["data"]["keys"]
    assert client.lookup_token()["data"]["policies"] == ["root"]


def test_list_pipelined_behind_a_get_split_across_reads(broker: BrokerThread) -> None:
    conn = RawConnection(broker)
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        get = _request("GET", "auth/token/lookup-self")
        cut = get.index(b"X-Vault-Token") + 5  # mid-header
        conn.send(get[:cut])
        # Only so the two writes arrive as two reads (tests/unit/test_list_method.py
        # feeds the parser such cuts deterministically); the answers below do not
        # depend on it.
        time.sleep(0.05)
        conn.send(get[cut:] + _request("LIST", "sys/policies/acl"))
        first, second = conn.answer(), conn.answer()
        assert first[0] == 200 and first[1]["data"]["policies"] == ["root"]  # type: ignore[index]
        assert second[0] == 200 and "root" in second[1]["data"]["keys"]  # type: ignore[index]
        # The connection goes on serving both kinds.
        conn.send(_request("LIST", "sys/policies/acl") + _request("GET", "auth/token/lookup-self"))
        assert conn.answer()[0] == 200 and conn.answer()[0] == 200
    finally:
        conn.close()
