"""The listener's connection rules, on `entra-broker server` as users run it: Vault's
header, idle and body timeouts (`http_read_header_timeout`, `http_idle_timeout`,
`http_read_timeout`), a bound on open connections (`max_connections`), Go's answer to
plain HTTP on a TLS listener, and one quiet log line for a malformed request."""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import trustme

from tests.server_process import Server, free_port
from tests.waiting import wait_until_sync

HEALTH = b"GET /v1/sys/health HTTP/1.1\r\nHost: broker\r\n\r\n"


def _start(
    servers: list[Server], tmp_path: Path, listener: str, *, tls: bool = False, log: str = ""
) -> tuple[Server, int]:
    port = free_port()
    if tls:
        authority = trustme.CA()
        cert = authority.issue_cert("127.0.0.1")
        cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "broker.pem"))
        cert.private_key_pem.write_to_path(str(tmp_path / "broker.key"))
        authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        files = '  tls_cert_file = "broker.pem"\n  tls_key_file = "broker.key"\n'
    else:
        files = "  tls_disable = true\n"
    config = tmp_path / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n{files}{listener}\n}}\n'
        f'storage "tinydb" {{\n  path = "data/broker.json"\n}}\n{log}\n'
    )
    (tmp_path / "data").mkdir()
    server = Server(["server", "--config", str(config)])
    servers.append(server)
    server.wait_for(r"Root Token: (\S+)")
    return server, port


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _answer(sock: socket.socket) -> bytes:
    """One whole Content-Length framed answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except (BlockingIOError, TimeoutError):
        return False


@contextlib.contextmanager
def _sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    opened = [_connect(port) for _ in range(count)]
    try:
        yield opened
    finally:
        for sock in opened:
            sock.close()


def test_silent_and_slowloris_connections_are_closed_while_health_answers(servers, tmp_path):
    timeout = 1.0
    _, port = _start(
        servers,
        tmp_path,
        f'  http_read_header_timeout = "{timeout:g}s"\n  max_connections = 2000',
    )
    url = f"http://127.0.0.1:{port}/v1/sys/health"
    started = time.monotonic()  # before the first connection: no clock starts earlier
    with _sockets(port, 500) as opened, httpx.Client(trust_env=False, timeout=10) as client:
        silent, slow = opened[:250], opened[250:]
        for sock in slow:
            sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHo")
        selector = selectors.DefaultSelector()
        for sock in opened:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        still_open, first_close = set(opened), None
        while still_open and time.monotonic() - started < 30:
            # The server answers all along.
            assert client.get(url).status_code == 200
            for sock in slow:  # a byte at a time, never the end of the header
                if sock in still_open:
                    with contextlib.suppress(OSError):
                        sock.send(b"s")
            for key, _ in selector.select(timeout=0.1):
                sock = key.fileobj  # type: ignore[assignment]
                if _closed_by_server(sock):  # type: ignore[arg-type]
                    first_close = first_close or time.monotonic() - started
                    selector.unregister(sock)
                    still_open.discard(sock)  # type: ignore[arg-type]
        selector.close()
        assert not still_open, f"{len(still_open)} of 500 connections still open"
        assert silent and first_close is not None and first_close >= timeout * 0.8
        assert client.get(url).status_code == 200


def test_an_idle_keep_alive_connection_is_closed_after_http_idle_timeout(servers, tmp_path):
    _, port = _start(servers, tmp_path, '  http_idle_timeout = "1s"')
    with _sockets(port, 1) as (sock,):
        sock.sendall(HEALTH)
        assert _answer(sock).startswith(b"HTTP/1.1 200")
        answered = time.monotonic()
        sock.settimeout(10)
        assert sock.recv(1) == b""
        assert time.monotonic() - answered >= 0.8


def test_a_slow_body_gets_400_after_http_read_timeout(servers, tmp_path):
    _, port = _start(servers, tmp_path, '  http_read_timeout = "1s"')
    with _sockets(port, 1) as (sock,):
        sock.sendall(
            b"PUT /v1/sys/leases/renew HTTP/1.1\r\nHost: broker\r\nContent-Length: 100\r\n\r\n{"
        )
        sock.settimeout(10)
        answer = _answer(sock)
        assert answer.startswith(b"HTTP/1.1 400")
        assert b"did not arrive within 1s (the listener's http_read_timeout)" in answer
        assert sock.recv(1) == b""  # and the connection is closed


def test_max_connections_bounds_open_connections(servers, tmp_path):
    _, port = _start(
        servers,
        tmp_path,
        '  http_read_header_timeout = "3s"\n  max_connections = 20',
    )
    # 20 connections each half-way through a header fill the listener: a 21st is
    # accepted (and answered) only once they are closed, 3 s after their first byte.
    with _sockets(port, 20) as busy, _sockets(port, 1) as (waiting,):
        for sock in busy:
            sock.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHo")
        waiting.sendall(HEALTH)
        waiting.settimeout(0.5)
        try:
            early = waiting.recv(1)
        except TimeoutError:
            early = b""
        assert early == b"", "answered while the listener was full"
        waiting.settimeout(15)
        assert _answer(waiting).startswith(b"HTTP/1.1 200")
        for sock in busy:
            sock.settimeout(10)
            assert _closed_by_server(sock)
    # Idle keep-alive connections do not lock others out: one is closed to make room.
    with _sockets(port, 20) as idle, _sockets(port, 1) as (newcomer,):
        for sock in idle:
            sock.sendall(HEALTH)
            assert _answer(sock).startswith(b"HTTP/1.1 200")
        newcomer.sendall(HEALTH)
        assert _answer(newcomer).startswith(b"HTTP/1.1 200")
        for sock in idle:
            sock.setblocking(False)
        wait_until_sync(lambda: any(_closed_by_server(sock) for sock in idle), timeout=10)


def test_plain_http_to_the_tls_listener_gets_gos_400(servers, tmp_path):
    _, port = _start(servers, tmp_path, '  http_read_header_timeout = "1s"', tls=True)
    # httpx, as a user who forgot the s.
    with httpx.Client(trust_env=False, timeout=10) as client:
        answer = client.get(f"http://127.0.0.1:{port}/v1/sys/health")
    assert answer.status_code == 400
    assert answer.text == "Client sent an HTTP request to an HTTPS server.\n"
    # Byte for byte what Go (so Vault) writes, then the connection ends.
    with _sockets(port, 1) as (sock,):
        sock.sendall(HEALTH)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received == (
        b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
    )
    # A connection that never starts its handshake is closed after the header timeout.
    with _sockets(port, 1) as (silent,):
        opened = time.monotonic()
        assert silent.recv(1) == b""
        assert time.monotonic() - opened >= 0.8
    # TLS clients are served as before.
    context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    with httpx.Client(verify=context, trust_env=False, timeout=10) as client:
        assert client.get(f"https://127.0.0.1:{port}/v1/sys/health").status_code == 200


TOKEN = "s.Distinctive7oken4MalformedLogs"
MALFORMED = [
    # a header line without a colon
    f"GET /v1/sys/health HTTP/1.1\r\nX-Vault-Token: {TOKEN}\r\nno colon here\r\n\r\n",
    # a request line with a broken version
    f"GET /v1/sys/health?t={TOKEN} HTTP/9\r\nX-Vault-Token: {TOKEN}\r\n\r\n",
    # a control character in the token's header value
    f"GET /v1/sys/health HTTP/1.1\r\nX-Vault-Token: {TOKEN}\x01x\r\n\r\n",
    # a header line over the 64 KiB limit
    f"GET /v1/sys/health HTTP/1.1\r\nX-Vault-Token: {TOKEN}{'A' * 70000}\r\n\r\n",
    # a method that is not a token
    f"G(T /v1/sys/health HTTP/1.1\r\nX-Vault-Token: {TOKEN}\r\n\r\n",
]


def test_a_malformed_request_is_one_warning_line_without_its_bytes(servers, tmp_path):
    server, port = _start(servers, tmp_path, "", log='log_level = "debug"')
    before = len(server.lines)
    sent: list[str] = []
    # After a LIST the connection parses with the Python parser: its refusals too.
    after_list = "LIST /v1/sys/policies/acl HTTP/1.1\r\nHost: b\r\n\r\n"
    cases = [(None, text) for text in MALFORMED] + [(after_list, MALFORMED[0])]
    for number, (first, text) in enumerate(cases, start=1):
        with _sockets(port, 1) as (sock,):
            if first is not None:
                sock.sendall(first.encode())
                assert _answer(sock).startswith(b"HTTP/1.1 403")
            sock.sendall(text.encode("latin-1"))
            assert re.match(rb"HTTP/1\.[01] 400 Bad Request\r\n", _answer(sock))
        sent.append(text)

        def warned(count: int = number) -> bool:
            return sum("refused a malformed HTTP request" in line for line in server.lines) == count

        wait_until_sync(warned, timeout=10)
    # A last health request on a fresh connection: whatever the refusals logged is out.
    with _sockets(port, 1) as (sock,):
        sock.sendall(HEALTH)
        assert _answer(sock).startswith(b"HTTP/1.1 200")
    output = server.lines[before:]
    warnings = [line for line in output if "[WARNING]" in line or "[ERROR]" in line]
    assert len(warnings) == len(cases), "\n".join(warnings)
    assert all("refused a malformed HTTP request remote=127.0.0.1 reason=" in w for w in warnings)
    text = "\n".join(output)
    assert TOKEN not in text and "Traceback" not in text
    assert "no colon here" not in text and "AAAAAAAA" not in text and "G(T" not in text
