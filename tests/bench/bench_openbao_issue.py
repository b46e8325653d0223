"""Credential issue through OpenBao + our plugin, against the emulator with Graph latency L.

    .venv/bin/python tests/bench/bench_openbao_issue.py [--clients 16 32 64]
        [--latency-ms 100] [--seconds 10]

The same load as bench_issue.py (C keep-alive clients, each reading its own role
`entra/creds/bench-<i>` back to back; every password reset delayed by L), sent to a
`bao server -dev` (in-memory storage) whose entra/ mount is this plugin. Little's law
bounds the rate at C / L, the engine's max_graph_calls (32) at 32 / L. CPU per issued
credential is counted for OpenBao's process and for the plugin's.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_issue import process_cpu
from tests.bench.loadgen import build_request, run_load
from tests.bench.targets import Emulator
from tests.openbao_dev import ROOT_TOKEN, DevServer, plugin_pids


class OpenBaoTarget:
    """What Emulator.configure_broker needs: `call(method, path, body)`."""

    def __init__(self, server: DevServer) -> None:
        self.server = server
        self.port = server.port

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = httpx.request(
            method,
            f"{self.server.url}/v1/{path}",
            json=body,
            headers={"X-Vault-Token": ROOT_TOKEN},
            timeout=60,
        )
        answer.raise_for_status()
        return answer.json() if answer.content else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    roles = max(args.clients)
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        (root / "plugins").mkdir()
        emulator = Emulator(root, roles)
        server = DevServer(
            root / "home", root / "plugins", str(Path(sys.executable).parent / "bao")
        )
        try:
            emulator.ready()
            server.start()
            out = subprocess.run(
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
            ).stdout
            for line in out.splitlines():
                server.ok(*shlex.split(line)[1:])
            target = OpenBaoTarget(server)
            emulator.configure_broker(target, range(roles))  # type: ignore[arg-type]
            warm = [
                build_request("GET", f"/v1/entra/creds/bench-{i}", token=ROOT_TOKEN)
                for i in range(roles)
            ]
            run_load(
                "127.0.0.1",
                server.port,
                warm,
                conns=roles,
                seconds=60,
                max_requests=roles,
                pin=True,
            )
            emulator.admin("POST", "faults", {"match": "^PATCH ", "latency_ms": args.latency_ms})
            plugin = plugin_pids(server.pid)[0]
            for clients in args.clients:
                requests = [
                    build_request("GET", f"/v1/entra/creds/bench-{i}", token=ROOT_TOKEN)
                    for i in range(clients)
                ]
                before = (process_cpu(server.pid), process_cpu(plugin), time.perf_counter())
                result = run_load(
                    "127.0.0.1",
                    server.port,
                    requests,
                    conns=clients,
                    seconds=args.seconds,
                    pin=True,
                )
                after = (process_cpu(server.pid), process_cpu(plugin), time.perf_counter())
                bao_cpu, plugin_cpu, _ = (b - a for a, b in zip(before, after, strict=True))
                limit = clients / (args.latency_ms / 1000)
                issued = max(1, result.count)
                p50, p99 = result.p50_ms - args.latency_ms, result.p99_ms - args.latency_ms
                rows.append(
                    f"| {clients} | {result.rate:,.0f} | {limit:,.0f} | {result.rate / limit:.2f} "
                    f"| {p50:.1f} | {p99:.1f} "
                    f"| {result.errors} | {bao_cpu / issued * 1000:.2f} "
                    f"| {plugin_cpu / issued * 1000:.2f} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
        finally:
            server.stop()
            emulator.stop()
    print(f"\nOpenBao + plugin, L = {args.latency_ms} ms.\n")
    print(
        "| C | creds/s | limit C/L | of C/L | p50 - L ms | p99 - L ms | errors "
        "| OpenBao CPU ms/cred | plugin CPU ms/cred |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
