"""Lease lookup and renew at 100 / 1,000 / 10,000 / 100,000 active leases, per store.

    .venv/bin/python tests/bench/bench_leases.py [--sizes 100 1000 10000 100000]
        [--stores tinydb log] [--seconds 3] [--conns 16]

Leases are written straight into the store before the broker starts (issuing 100,000
through Graph would take the run); every figure is then measured through HTTP with
the load client of tests/bench/loadgen.py: `sys/leases/lookup` and `sys/leases/renew`
of random seeded leases on `--conns` connections, and renew on one connection (the
latency of one durable write with nothing to share it). The last column is p50 at
this size over p50 at the smallest size, per store and operation (target: <= 1.5).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.loadgen import LoadResult, build_request, run_load
from tests.bench.targets import Broker, lease_record, rss_mb, seed_leases


def lease_ids(size: int) -> list[str]:
    # 100 roles, as a fleet would have, so lease ids spread over folders.
    return [f"entra/creds/bench-{i % 100}/lease{i:07d}" for i in range(size)]


def seed(data: Path, store: str, size: int) -> list[str]:
    now = time.time()
    ids = lease_ids(size)
    records = {
        lid: lease_record(lid, now + 20 * 3600, f"obj-{n}", f"u{n}@bench.test", now)
        for n, lid in enumerate(ids)
    }
    seed_leases(data, store, records)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    parser.add_argument("--stores", nargs="+", default=["tinydb", "log"])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--sample", type=int, default=2000, help="distinct leases a run uses")
    args = parser.parse_args()
    rng = random.Random(7)
    rows = []
    base: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as temp:
        for store in args.stores:
            for size in args.sizes:
                data = Path(temp) / f"{store}-{size}"
                ids = seed(data, store, size)
                broker = Broker(data, store)
                try:
                    broker.ready()
                    # Measure the steady state: every lease restored (see bench_startup.py).
                    start_s = broker.wait_restored()
                    rss = rss_mb(broker.pid)
                    sample = rng.sample(ids, min(args.sample, size))
                    lookups = [
                        build_request(
                            "PUT", "/v1/sys/leases/lookup", token="root", body={"lease_id": lid}
                        )
                        for lid in sample
                    ]
                    renews = [
                        build_request(
                            "PUT",
                            "/v1/sys/leases/renew",
                            token="root",
                            body={"lease_id": lid, "increment": 3600},
                        )
                        for lid in sample
                    ]
                    runs: list[tuple[str, LoadResult]] = [
                        (
                            "lookup",
                            run_load(
                                "127.0.0.1",
                                broker.port,
                                lookups,
                                conns=args.conns,
                                seconds=args.seconds,
                            ),
                        ),
                        (
                            "renew",
                            run_load(
                                "127.0.0.1",
                                broker.port,
                                renews,
                                conns=args.conns,
                                seconds=args.seconds,
                            ),
                        ),
                        (
                            "renew, 1 conn",
                            run_load(
                                "127.0.0.1", broker.port, renews, conns=1, seconds=args.seconds
                            ),
                        ),
                    ]
                finally:
                    broker.stop()
                for op, result in runs:
                    base.setdefault((store, op), result.p50_ms)
                    ratio = result.p50_ms / base[(store, op)]
                    rows.append(
                        f"| {store} | {size:,} | {op} | {result.rate:,.0f} | {result.p50_ms:.2f} "
                        f"| {result.p99_ms:.2f} | {result.errors} | {ratio:.2f} "
                        f"| {start_s:.2f} | {rss:.0f} |"
                    )
                    print(rows[-1], file=sys.stderr, flush=True)
    print(f"\nload: {args.conns} connections (or 1), {args.seconds:g} s per figure\n")
    print(
        "| store | leases | operation | ops/s | p50 ms | p99 ms | errors | p50 / p50 at "
        f"{args.sizes[0]:,} | restored s | RSS MB |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
