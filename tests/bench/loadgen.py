"""The load client every HTTP benchmark uses: raw keep-alive HTTP/1.1 over asyncio streams.

There is no `wrk` here. aiohttp's or httpx's client costs more CPU per request than the
server under test, so on a 2-core machine it would measure itself. This client writes
prepared request bytes and reads just enough of each answer (status line, Content-Length
or chunked body) to know it ended: a few microseconds of Python per request. It runs in
`procs` separate processes (default 1, leaving the other core to the server), each with
`conns / procs` connections on one event loop; every target gets the same client.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LoadResult", "build_request", "percentile", "run_load"]


def build_request(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    host: str = "127.0.0.1",
) -> bytes:
    """One HTTP/1.1 keep-alive request, as bytes ready to write."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "User-Agent: bench"]
    payload = b""
    if token is not None:
        lines.append(f"X-Vault-Token: {token}")
    if body is not None:
        payload = json.dumps(body).encode()
        lines.append("Content-Type: application/json")
    lines.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values))) - 1))
    return sorted_values[index]


@dataclass
class LoadResult:
    """What one load run measured; latencies in seconds, sorted."""

    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def p(self, fraction: float) -> float:
        return percentile(self.latencies, fraction)

    @property
    def p50_ms(self) -> float:
        return self.p(0.5) * 1000

    @property
    def p99_ms(self) -> float:
        return self.p(0.99) * 1000

    @property
    def mean_ms(self) -> float:
        return statistics.fmean(self.latencies) * 1000 if self.latencies else float("nan")


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one whole response; returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = -1
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length > 0:
        await reader.readexactly(length)
    return status


async def _connection(
    host: str,
    port: int,
    requests: Sequence[bytes],
    offset: int,
    deadline: float,
    max_requests: int | None,
    latencies: list[float],
    statuses: dict[int, int],
    pin: bool,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = offset
    clock = time.perf_counter
    try:
        while clock() < deadline and (max_requests is None or len(latencies) < max_requests):
            request = requests[index % len(requests)]
            if not pin:
                index += 1
            start = clock()
            writer.write(request)
            status = await _read_response(reader)
            latencies.append(clock() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load_in_loop(
    host: str,
    port: int,
    requests: Sequence[bytes],
    conns: int,
    seconds: float,
    first: int,
    max_requests: int | None,
    pin: bool,
) -> tuple[float, list[float], dict[int, int]]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter()
    deadline = start + seconds
    stride = 1 if pin else max(1, len(requests) // max(1, conns))
    await asyncio.gather(
        *(
            _connection(
                host,
                port,
                requests,
                (first + i) * stride,
                deadline,
                max_requests,
                latencies,
                statuses,
                pin,
            )
            for i in range(conns)
        )
    )
    return time.perf_counter() - start, latencies, statuses


def _worker(
    pipe: Any,
    host: str,
    port: int,
    requests: Sequence[bytes],
    conns: int,
    seconds: float,
    first: int,
    max_requests: int | None,
    pin: bool,
) -> None:
    result = asyncio.run(
        _load_in_loop(host, port, requests, conns, seconds, first, max_requests, pin)
    )
    pipe.send(result)
    pipe.close()


def run_load(
    host: str,
    port: int,
    requests: Sequence[bytes],
    *,
    conns: int = 16,
    seconds: float = 5.0,
    procs: int = 1,
    max_requests: int | None = None,
    pin: bool = False,
) -> LoadResult:
    """Send `requests` round-robin on `conns` keep-alive connections for `seconds`.

    With `pin`, connection i sends only request i (mod len): one client per role.
    """
    context = multiprocessing.get_context("fork")
    workers = []
    per_proc = [conns // procs + (1 if i < conns % procs else 0) for i in range(procs)]
    first = 0
    for share in per_proc:
        parent, child = context.Pipe(duplex=False)
        proc = context.Process(
            target=_worker,
            args=(child, host, port, requests, share, seconds, first, max_requests, pin),
            daemon=True,
        )
        proc.start()
        child.close()
        workers.append((proc, parent))
        first += share
    result = LoadResult(seconds=0.0)
    for proc, parent in workers:
        elapsed, latencies, statuses = parent.recv()
        proc.join(30)
        result.seconds = max(result.seconds, elapsed)
        result.latencies.extend(latencies)
        for status, n in statuses.items():
            result.statuses[status] = result.statuses.get(status, 0) + n
    result.latencies.sort()
    return result
