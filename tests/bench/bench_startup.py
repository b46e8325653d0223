"""Start-up time and memory with 10,000 and 100,000 leases in storage, per store.

    .venv/bin/python tests/bench/bench_startup.py [--sizes 10000 100000] [--stores tinydb log]

"Serving after" is from process start (fork/exec of the Python interpreter) to the first
answered `sys/health`; leases are then still being restored in the background (a
request naming one lease reads it on demand). "All restored after" is when a
`LIST sys/leases/lookup/` answers: it waits until every stored lease is in memory, as
every operation over all leases does. RSS is read from /proc at both moments. Leases
are seeded straight into the store first (tests/bench/bench_leases.py explains why).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_leases import seed
from tests.bench.targets import Broker, rss_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 10_000, 100_000])
    parser.add_argument("--stores", nargs="+", default=["tinydb", "log"])
    args = parser.parse_args()
    print(
        "| store | leases | file MB | serving after s | RSS then MB "
        "| all restored after s | RSS then MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as temp:
        for store in args.stores:
            for size in args.sizes:
                data = Path(temp) / f"{store}-{size}"
                seed(data, store, size)
                file_mb = sum(p.stat().st_size for p in data.iterdir()) / 1e6
                broker = Broker(data, store)
                try:
                    serving = broker.wait_http(f"{broker.url}/v1/sys/health", timeout=300)
                    rss_serving = rss_mb(broker.pid)
                    restored = broker.wait_restored()
                    rss_restored = rss_mb(broker.pid)
                finally:
                    broker.stop()
                print(
                    f"| {store} | {size:,} | {file_mb:.1f} | {serving:.2f} | {rss_serving:.0f} "
                    f"| {restored:.2f} | {rss_restored:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
