"""The two hosts side by side, in one run: our server and OpenBao + our plugin.

    .venv/bin/python tests/bench/bench_hosts.py [--clients 16 32 64] [--latency-ms 100]
        [--seconds 10] [--renew-seconds 5] [--graph-cap 64]

One emulator (Graph latency L on every password reset), our server (`serve_broker.py`,
TinyDB) and a `bao server -dev` (in-memory storage) whose entra/ mount is the plugin,
both configured against it with one role per client (`entra/creds/bench-<i>`) and the
per-role issue limit off. For each C, C keep-alive clients read their own role back to
back, first through our server, then through OpenBao: the rate against Little's bound
C / L, and the CPU each process spent per issued credential. The engine's
max_graph_calls is set to --graph-cap (64) on both, so that it bounds nothing below
C = 64 (its default, 32, would cap the rate at 32 / L). Then lease renewal, with no
Graph call in it: C clients renew their own live lease (`PUT sys/leases/renew`,
increment 1h) back to back, through each host. The hosts run one after the other on the
same machine, so each ratio is measured within one run.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_issue import CORES, machine_busy, process_cpu
from tests.bench.bench_openbao_issue import OpenBaoTarget
from tests.bench.loadgen import LoadResult, build_request, run_load
from tests.bench.targets import Broker, Emulator
from tests.openbao_dev import ROOT_TOKEN, DevServer, plugin_pids


@dataclass
class Host:
    """One host under load: where to send requests, and whose CPU to count."""

    name: str
    port: int
    token: str
    pids: Callable[[], dict[str, int]]
    call: Callable[[str, str, Any], Any]


def start_openbao(root: Path) -> DevServer:
    """bao server -dev with the plugin installed the documented way, the limit off."""
    (root / "plugins").mkdir(parents=True)
    server = DevServer(root / "home", root / "plugins", str(Path(sys.executable).parent / "bao"))
    server.start()
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mount",
            "openbao-plugin",
            "install",
            "--plugin-dir",
            str(root / "plugins"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    register, enable = (shlex.split(line)[1:] for line in printed)
    server.ok(*register)
    # A benchmark reads each role far above the default 30 a minute.
    server.ok(*enable[:-1], "-options=role_issue_limit=0", enable[-1])
    return server


def measure(
    host: Host, requests: list[bytes], clients: int, seconds: float
) -> tuple[LoadResult, dict[str, float]]:
    """Run the load; the result and each process's CPU seconds meanwhile."""
    pids = host.pids()
    before = {name: process_cpu(pid) for name, pid in pids.items()}
    busy, start = machine_busy(), time.perf_counter()
    result = run_load("127.0.0.1", host.port, requests, conns=clients, seconds=seconds, pin=True)
    spent = {name: process_cpu(pid) - before[name] for name, pid in pids.items()}
    # Every process's CPU on the machine, as a share of all cores: the noise to read by.
    spent["machine"] = (machine_busy() - busy) / ((time.perf_counter() - start) * CORES)
    return result, spent


def creds_requests(host: Host, clients: int) -> list[bytes]:
    return [
        build_request("GET", f"/v1/entra/creds/bench-{i}", token=host.token) for i in range(clients)
    ]


def live_leases(host: Host, clients: int) -> list[str]:
    """One fresh lease per role, through the host."""
    return [host.call("GET", f"entra/creds/bench-{i}", None)["lease_id"] for i in range(clients)]


def cpu_cells(spent: dict[str, float], count: int) -> str:
    """The CPU ms per operation of each process, then the machine's busy share."""
    issued = max(1, count)
    cells = " / ".join(
        f"{name} {seconds / issued * 1000:.2f}"
        for name, seconds in spent.items()
        if name != "machine"
    )
    return f"{cells} | {spent['machine']:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--renew-seconds", type=float, default=5.0)
    parser.add_argument("--graph-cap", type=int, default=64)
    args = parser.parse_args()
    roles = max(args.clients)
    latency = args.latency_ms / 1000
    issue_rows: list[str] = []
    renew_rows: list[str] = []
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        emulator = Emulator(root, roles)
        broker = Broker(root / "broker", "tinydb")
        openbao: DevServer | None = None
        try:
            emulator.ready()
            broker.ready()
            openbao = start_openbao(root / "openbao")
            target = OpenBaoTarget(openbao)
            bao = openbao
            hosts = [
                Host(
                    "our server", broker.port, "root", lambda: {"server": broker.pid}, broker.call
                ),
                Host(
                    "OpenBao + plugin",
                    openbao.port,
                    ROOT_TOKEN,
                    lambda: {"bao": bao.pid, "plugin": plugin_pids(bao.pid)[0]},
                    target.call,
                ),
            ]
            emulator.configure_broker(broker, range(roles))
            emulator.configure_broker(target, range(roles))  # type: ignore[arg-type]
            for host in hosts:
                host.call("PUT", "entra/config", {"max_graph_calls": args.graph_cap})
            for host in hosts:  # the app token, warm connections, the plugin started
                run_load(
                    "127.0.0.1",
                    host.port,
                    creds_requests(host, roles),
                    conns=roles,
                    seconds=60,
                    max_requests=roles,
                    pin=True,
                )
            emulator.admin("POST", "faults", {"match": "^PATCH ", "latency_ms": args.latency_ms})
            for clients in args.clients:
                limit = clients / latency
                cap_limit = min(clients, args.graph_cap) / latency
                for host in hosts:
                    result, spent = measure(
                        host, creds_requests(host, clients), clients, args.seconds
                    )
                    issue_rows.append(
                        f"| {host.name} | {clients} | {result.rate:,.0f} | {limit:,.0f} "
                        f"| {result.rate / limit:.2f} | {result.rate / cap_limit:.2f} "
                        f"| {result.p50_ms - args.latency_ms:.1f} "
                        f"| {result.p99_ms - args.latency_ms:.1f} | {result.errors} "
                        f"| {cpu_cells(spent, result.count)} |"
                    )
                    print(issue_rows[-1], file=sys.stderr, flush=True)
            emulator.admin("DELETE", "faults")
            for clients in args.clients:
                for host in hosts:
                    leases = live_leases(host, clients)
                    requests = [
                        build_request(
                            "PUT",
                            "/v1/sys/leases/renew",
                            token=host.token,
                            body={"lease_id": lease, "increment": "1h"},
                        )
                        for lease in leases
                    ]
                    result, spent = measure(host, requests, clients, args.renew_seconds)
                    renew_rows.append(
                        f"| {host.name} | {clients} | {result.rate:,.0f} "
                        f"| {result.p50_ms:.1f} | {result.p99_ms:.1f} | {result.errors} "
                        f"| {cpu_cells(spent, result.count)} |"
                    )
                    print(renew_rows[-1], file=sys.stderr, flush=True)
        finally:
            if openbao is not None:
                openbao.stop()
            broker.stop()
            emulator.stop()
    print(f"\nCredential issue, L = {args.latency_ms} ms, {args.seconds:g} s per row.\n")
    print(
        f"| host | C | creds/s | C/L | of C/L | of min(C, {args.graph_cap})/L "
        "| p50 - L ms | p99 - L ms "
        "| errors | CPU ms per credential | machine busy |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for row in issue_rows:
        print(row)
    print(f"\nLease renewal, {args.renew_seconds:g} s per row (no Graph call).\n")
    print(
        "| host | C | renewals/s | p50 ms | p99 ms | errors | CPU ms per renewal | machine busy |"
    )
    print("|---|---:|---:|---:|---:|---:|---|---:|")
    for row in renew_rows:
        print(row)


if __name__ == "__main__":
    main()
