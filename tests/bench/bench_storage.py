"""Micro-benchmark of the file stores' puts and gets; a script, not a test (prints a table).

.venv/bin/python tests/bench/bench_storage.py [--sizes 100 10000 100000] [--ops 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mount.storage.barrier import Barrier
from mount.storage.log import LogStore
from mount.storage.store import MemoryStore, TinyDBStore
from tests.bench.serve_broker import open_bench_store

# A value the size of a lease record, so the file grows as it would in use.
VALUE = {
    "lease_id": "entra/creds/alice/0123456789abcdef0123456789abcdef",
    "issue_time": "2024-01-01T00:00:00Z",
    "expire_time": "2024-01-01T01:00:00Z",
    "internal": {"object_id": "00000000-0000-0000-0000-000000000000"},
}


async def _timed(action: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


def _writes(store: TinyDBStore | LogStore) -> int:
    return store.json_storage.writes if isinstance(store, TinyDBStore) else store.appends


async def bench_store(directory: Path, kind: str, size: int, ops: int, sealed: bool) -> list[str]:
    path = directory / f"bench-{kind}-{size}-{int(sealed)}.db"
    store = open_bench_store(kind, path, Barrier(os.urandom(32)) if sealed else None)
    try:
        await store.put_many({f"fill/{i:06d}": VALUE for i in range(size)})
        file_kib = path.stat().st_size / 1024
        rows = []

        async def sequential() -> None:
            for i in range(ops):
                await store.put(f"seq/{i:06d}", VALUE)

        async def concurrent() -> None:
            await asyncio.gather(*(store.put(f"con/{i:06d}", VALUE) for i in range(ops)))

        async def gets() -> None:
            for i in range(ops):
                await store.get(f"fill/{i % size:06d}")

        for name, action in (
            ("sequential put", sequential),
            ("concurrent put", concurrent),
            ("sequential get", gets),
        ):
            writes_before = _writes(store)
            seconds = await _timed(action)
            writes = _writes(store) - writes_before
            rows.append(
                f"| {kind:6} | {'sealed' if sealed else 'plain':6} | {size:>6} | {file_kib:>8.0f} "
                f"| {name:<14} | {ops:>5} | {seconds * 1000:>9.0f} | {seconds / ops * 1e6:>8.0f} "
                f"| {ops / seconds:>8.0f} | {writes:>6} |"
            )
        return rows
    finally:
        await store.close()


async def bench_latency(directory: Path, kind: str, size: int, samples: int) -> str:
    """Median and p99 of one put at a store size, for the single-writer case."""
    store = open_bench_store(kind, directory / f"latency-{kind}-{size}.db", Barrier(os.urandom(32)))
    try:
        await store.put_many({f"fill/{i:06d}": VALUE for i in range(size)})
        times = []
        for i in range(samples):
            start = time.perf_counter()
            await store.put(f"lat/{i}", VALUE)
            times.append(time.perf_counter() - start)
        times.sort()
        return (
            f"{kind:6} size {size:>6}: put median {statistics.median(times) * 1000:.2f} ms, "
            f"p99 {times[int(len(times) * 0.99) - 1] * 1000:.2f} ms"
        )
    finally:
        await store.close()


async def bench_memory(ops: int) -> str:
    store = MemoryStore()

    async def concurrent() -> None:
        await asyncio.gather(*(store.put(f"k/{i}", VALUE) for i in range(ops)))

    seconds = await _timed(concurrent)
    return f"MemoryStore: {ops} concurrent puts in {seconds * 1000:.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000])
    parser.add_argument("--stores", nargs="+", default=["tinydb-only", "log"])
    parser.add_argument("--dir", type=Path, help="directory for the files (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as temp:
        directory = Path(temp)
        print(f"files in {directory} ({os.uname().sysname}, python {sys.version.split()[0]})")
        print(
            "| store  | mode   |   size | file KiB | operation      |   ops |  total ms | us / op "
            "|    ops/s | writes |"
        )
        print(
            "|--------|--------|-------:|---------:|----------------|------:|----------:|--------:"
            "|---------:|-------:|"
        )
        for kind in args.stores:
            for sealed in (True, False):
                for size in args.sizes:
                    for row in await bench_store(directory, kind, size, args.ops, sealed):
                        print(row, flush=True)
        print()
        for kind in args.stores:
            for size in args.sizes:
                print(await bench_latency(directory, kind, size, 200), flush=True)
        print(await bench_memory(args.ops))


if __name__ == "__main__":
    asyncio.run(main())
