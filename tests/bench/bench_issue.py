"""Credential issue under concurrency, against the Entra emulator with Graph latency L.

    .venv/bin/python tests/bench/bench_issue.py [--clients 32 64] [--latency-ms 100]
        [--seconds 10] [--store tinydb]

C clients (keep-alive connections, one process: tests/bench/loadgen.py) each read
`entra/creds/bench-<i>`, their own role, back to back. The emulator (its own process)
delays every password reset (PATCH) by L. Little's law bounds the rate at C / L; the
engine also holds at most 32 Graph calls in flight (plugin/graph.py), which bounds it
at 32 / L whatever C is. Latency is shown minus L.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.loadgen import build_request, run_load  # noqa: E402
from tests.bench.targets import Broker, Emulator  # noqa: E402

GRAPH_CAP = 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--store", default="tinydb")
    parser.add_argument("--profile", type=Path, help="cProfile the broker into this file")
    args = parser.parse_args()
    roles = max(args.clients)
    latency = args.latency_ms / 1000
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        emulator = Emulator(Path(temp), roles)
        broker = Broker(Path(temp) / "broker", args.store, profile=args.profile)
        try:
            emulator.ready()
            broker.ready()
            emulator.configure_broker(broker, range(roles))
            # Warm up: the app token, connections, one lease per role.
            warm = [
                build_request("GET", f"/v1/entra/creds/bench-{i}", token="root")
                for i in range(roles)
            ]
            run_load(
                "127.0.0.1",
                broker.port,
                warm,
                conns=roles,
                seconds=60,
                max_requests=roles,
                pin=True,
            )
            emulator.admin("POST", "faults", {"match": "^PATCH ", "latency_ms": args.latency_ms})
            for clients in args.clients:
                requests = [
                    build_request("GET", f"/v1/entra/creds/bench-{i}", token="root")
                    for i in range(clients)
                ]
                result = run_load(
                    "127.0.0.1",
                    broker.port,
                    requests,
                    conns=clients,
                    seconds=args.seconds,
                    pin=True,
                )
                limit = clients / latency
                cap_limit = min(clients, GRAPH_CAP) / latency
                rows.append(
                    f"| {args.store} | {clients} | {args.latency_ms} | {result.rate:,.0f} "
                    f"| {limit:,.0f} | {result.rate / limit:.2f} | {result.rate / cap_limit:.2f} "
                    f"| {result.p50_ms - args.latency_ms:.1f} "
                    f"| {result.p99_ms - args.latency_ms:.1f} | {result.errors} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
        finally:
            broker.stop()
            emulator.stop()
    print(
        "\n| store | clients C | L ms | creds/s | limit C/L | of C/L | of min(C,32)/L "
        "| p50 - L ms | p99 - L ms | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
