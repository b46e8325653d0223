"""Expiry precision: N leases ending within a window, Graph latency 50 ms, cap 32.

    .venv/bin/python tests/bench/bench_expiry.py [--leases 10000] [--window 60]
        [--latency-ms 50] [--store tinydb]

Each lease belongs to its own emulator user, so the emulator's per-user
`password_changed_at` is the moment that lease's password reset landed. Leases are
seeded straight into the store (spread evenly over `--window` seconds, starting
`--lead` seconds after seeding, time enough to start and configure the broker); the
broker's expiry worker must revoke each one. Delay = reset time - expire time; a lease
whose user was never reset is missed. `--leases 1000 --window 10` is the scaled-down run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.loadgen import percentile
from tests.bench.targets import Broker, Emulator, lease_record, seed_leases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leases", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--lead", type=float, default=15.0)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--store", default="tinydb")
    parser.add_argument("--grace", type=float, default=120.0, help="wait this long past the end")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        emulator = Emulator(Path(temp), args.leases)
        broker: Broker | None = None
        try:
            emulator.ready()
            users = {u["userPrincipalName"]: u for u in emulator.admin("GET", "users")}
            now = time.time()
            first = now + args.lead
            expiry: dict[str, float] = {}
            records = {}
            for i in range(args.leases):
                upn = f"bench-{i}@bench.test"
                object_id = users[upn]["id"]
                ends = first + args.window * i / args.leases
                lease_id = f"entra/creds/bench-{i % 100}/lease{i:06d}"
                records[lease_id] = lease_record(lease_id, ends, object_id, upn, now)
                expiry[object_id] = ends
            seed_leases(Path(temp) / "broker", args.store, records)
            broker = Broker(Path(temp) / "broker", args.store)
            broker.ready()
            emulator.configure_broker(broker, [])
            emulator.admin("POST", "faults", {"match": "^PATCH ", "latency_ms": args.latency_ms})
            ready_at = time.time()
            if ready_at > first:
                print(
                    f"warning: the broker was ready {ready_at - first:.1f} s after the first "
                    "expiry; raise --lead",
                    file=sys.stderr,
                )
            deadline = first + args.window + args.grace
            done: dict[str, float] = {}
            while time.time() < deadline:
                time.sleep(min(5.0, max(0.5, deadline - time.time())))
                for user in emulator.admin("GET", "users"):
                    changed = user.get("password_changed_at")
                    if changed and user["id"] in expiry:
                        done[user["id"]] = datetime.fromisoformat(changed).timestamp()
                print(f"reset {len(done)}/{args.leases}", file=sys.stderr, flush=True)
                if len(done) == args.leases:
                    break
        finally:
            if broker is not None:
                broker.stop()
            emulator.stop()
    delays = sorted(done[oid] - expiry[oid] for oid in done)
    missed = args.leases - len(done)
    print(
        f"\n{args.leases:,} leases over {args.window:g} s, Graph latency {args.latency_ms} ms "
        f"(PATCH), Graph cap 32, store {args.store}\n"
    )
    print("| leases | window s | p50 delay s | p99 delay s | max delay s | missed |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.leases:,} | {args.window:g} | {percentile(delays, 0.5):.3f} "
        f"| {percentile(delays, 0.99):.3f} | {delays[-1] if delays else float('nan'):.3f} "
        f"| {missed} |"
    )


if __name__ == "__main__":
    main()
