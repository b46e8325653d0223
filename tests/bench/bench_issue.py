"""Credential issue under concurrency, against the Entra emulator with Graph latency L.

    .venv/bin/python tests/bench/bench_issue.py [--clients 8 16 32 64] [--latency-ms 100]
        [--seconds 10] [--store tinydb] [--graph-caps 32 64]

C clients (keep-alive connections, one process: tests/bench/loadgen.py) each read
`entra/creds/bench-<i>`, their own role, back to back. The emulator (its own process)
delays every password reset (PATCH) by L. Little's law bounds the rate at C / L; the
engine also holds at most `max_graph_calls` ("cap") Graph calls in flight, which bounds
it at cap / L whatever C is. Every C runs with the first cap (32, the default), then the
C above it again with the next cap (64), written to entra/config in the same run.
Latency is shown minus L.

A second table accounts for the CPU of the measured window: each process's user + system
time (/proc/<pid>/stat for the broker and the emulator, the load client's own rusage) per
issued credential, and the three together as a share of the machine's 2 cores; "machine"
is every process's CPU (/proc/stat), so a gap to "ours" is someone else's load.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.loadgen import LoadResult, build_request, run_load
from tests.bench.targets import Broker, Emulator

DEFAULT_GRAPH_CAP = 32
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def process_cpu(pid: int) -> float:
    """Seconds of CPU (user + system, all threads) process `pid` has used so far."""
    # The command name (field 2) may hold spaces; the fields after its ")" are fixed.
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def children_cpu() -> float:
    """CPU seconds of this process's reaped children (the load client, once joined)."""
    times = os.times()
    return times.children_user + times.children_system


def machine_busy() -> float:
    """CPU seconds every process on the machine has used since boot (not idle/iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / TICK


@dataclass
class CpuWindow:
    """CPU seconds used by each party during one measured run."""

    broker: float
    emulator: float
    client: float
    machine: float
    wall: float

    @property
    def ours(self) -> float:
        return self.broker + self.emulator + self.client


def measured(
    broker: Broker, emulator: Emulator, run: Callable[[], LoadResult]
) -> tuple[LoadResult, CpuWindow]:
    """Run `run()` (a load) and the CPU each process spent meanwhile."""
    before = (
        process_cpu(broker.pid),
        process_cpu(emulator.pid),
        children_cpu(),
        machine_busy(),
        time.perf_counter(),
    )
    result = run()
    after = (
        process_cpu(broker.pid),
        process_cpu(emulator.pid),
        children_cpu(),
        machine_busy(),
        time.perf_counter(),
    )
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return result, CpuWindow(*spent)


def runs(clients: list[int], caps: list[int]) -> list[tuple[int, int]]:
    """(cap, C) pairs: every C under the first cap, then under each further cap the C
    that exceed the cap before it (below it the two caps bound nothing differently)."""
    pairs = [(caps[0], c) for c in clients]
    for before, cap in zip(caps, caps[1:], strict=False):
        pairs += [(cap, c) for c in clients if c > before]
    return pairs


def warm_up(broker: Broker, roles: int) -> None:
    """The app token, warm connections, one lease per role: what a config write resets."""
    warm = [build_request("GET", f"/v1/entra/creds/bench-{i}", token="root") for i in range(roles)]
    run_load("127.0.0.1", broker.port, warm, conns=roles, seconds=60, max_requests=roles, pin=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--store", default="tinydb")
    parser.add_argument(
        "--graph-caps",
        type=int,
        nargs="+",
        default=[DEFAULT_GRAPH_CAP, 64],
        help="the engine's max_graph_calls, one after the other (default: 32, then 64 "
        "for the C above 32)",
    )
    parser.add_argument("--profile", type=Path, help="cProfile the broker into this file")
    args = parser.parse_args()
    roles = max(args.clients)
    latency = args.latency_ms / 1000
    rows = []
    cpu_rows = []
    with tempfile.TemporaryDirectory() as temp:
        emulator = Emulator(Path(temp), roles)
        broker = Broker(Path(temp) / "broker", args.store, profile=args.profile)
        try:
            emulator.ready()
            broker.ready()
            emulator.configure_broker(broker, range(roles))
            warm_up(broker, roles)
            emulator.admin("POST", "faults", {"match": "^PATCH ", "latency_ms": args.latency_ms})
            configured = DEFAULT_GRAPH_CAP  # the engine's default: nothing to write
            for cap, clients in runs(args.clients, args.graph_caps):
                if cap != configured:
                    emulator.admin("DELETE", "faults")
                    broker.call("PUT", "entra/config", {"max_graph_calls": cap})
                    warm_up(broker, roles)
                    emulator.admin(
                        "POST", "faults", {"match": "^PATCH ", "latency_ms": args.latency_ms}
                    )
                    configured = cap
                requests = [
                    build_request("GET", f"/v1/entra/creds/bench-{i}", token="root")
                    for i in range(clients)
                ]
                result, cpu = measured(
                    broker,
                    emulator,
                    lambda requests=requests, clients=clients: run_load(
                        "127.0.0.1",
                        broker.port,
                        requests,
                        conns=clients,
                        seconds=args.seconds,
                        pin=True,
                    ),
                )
                limit = clients / latency
                cap_limit = min(clients, cap) / latency
                rows.append(
                    f"| {args.store} | {cap} | {clients} | {result.rate:,.0f} "
                    f"| {limit:,.0f} | {result.rate / limit:.2f} | {result.rate / cap_limit:.2f} "
                    f"| {result.p50_ms - args.latency_ms:.1f} "
                    f"| {result.p99_ms - args.latency_ms:.1f} | {result.errors} |"
                )
                issued = max(1, result.count)
                capacity = cpu.wall * CORES
                cpu_rows.append(
                    f"| {args.store} | {cap} | {clients} | {result.rate:,.0f} "
                    f"| {cpu.broker / issued * 1000:.2f} | {cpu.emulator / issued * 1000:.2f} "
                    f"| {cpu.client / issued * 1000:.2f} | {cpu.ours / issued * 1000:.2f} "
                    f"| {cpu.broker / cpu.wall:.0%} | {cpu.emulator / cpu.wall:.0%} "
                    f"| {cpu.ours / capacity:.0%} | {cpu.machine / capacity:.0%} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
                print(cpu_rows[-1], file=sys.stderr, flush=True)
        finally:
            broker.stop()
            emulator.stop()
    print(
        f"\nL = {args.latency_ms} ms.\n\n"
        "| store | cap | C | creds/s | limit C/L | of C/L | of min(C, cap)/L "
        "| p50 - L ms | p99 - L ms | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)
    print(
        f"\nCPU per issued credential (ms), and busy share during the window:\n\n"
        "| store | cap | C | creds/s | broker ms | emulator ms | client ms | total ms "
        f"| broker of 1 core | emulator of 1 core | ours of {CORES} cores "
        f"| machine of {CORES} cores |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in cpu_rows:
        print(row)


if __name__ == "__main__":
    main()
