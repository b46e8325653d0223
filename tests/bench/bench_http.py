"""Side by side: our lookups against `bao server -dev` and a bare aiohttp handler.

    .venv/bin/python tests/bench/bench_http.py [--seconds 5] [--conns 16] [--rounds 3]

The same load client (tests/bench/loadgen.py: one process, `--conns` keep-alive
connections) drives each target in turn, in one run, rounds interleaved; the table
shows each target's median round. `auth/token/lookup-self` with the root token, and
`sys/leases/lookup` of an existing lease (ours: an entra lease among 1,000 seeded;
OpenBao: the lease of a token made with auth/token/create).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.loadgen import LoadResult, build_request, run_load
from tests.bench.targets import (
    BareAiohttp,
    Broker,
    OpenBaoDev,
    lease_record,
    seed_leases,
)


def median_round(results: list[LoadResult]) -> LoadResult:
    return sorted(results, key=lambda r: r.rate)[len(results) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--conns", type=int, default=16)
    parser.add_argument("--procs", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", default="tinydb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        data = Path(temp) / "broker"
        now = time.time()
        records = {
            f"entra/creds/bench-0/lease{i:06d}": lease_record(
                f"entra/creds/bench-0/lease{i:06d}", now + 7200, f"obj-{i}", "u@bench.test", now
            )
            for i in range(1000)
        }
        seed_leases(data, args.store, records)
        ours_lease = "entra/creds/bench-0/lease000500"
        targets = {
            "bare aiohttp (C parser)": BareAiohttp(),
            "bare aiohttp (Py parser)": BareAiohttp(python_parser=True),
            "entra-broker": Broker(data, args.store),
            "openbao dev": OpenBaoDev(),
        }
        try:
            for target in targets.values():
                target.ready()  # type: ignore[attr-defined]
            bao = targets["openbao dev"]
            assert isinstance(bao, OpenBaoDev)
            bao.call("POST", "auth/token/create", {"ttl": "2h", "policies": ["default"]})
            listed = bao.call("LIST", "sys/leases/lookup/auth/token/create/")
            bao_lease = "auth/token/create/" + listed["data"]["keys"][0]
            lookups = {
                "entra-broker": ours_lease,
                "openbao dev": bao_lease,
            }
            loads = {
                "lookup-self": lambda name: build_request(
                    "GET", "/v1/auth/token/lookup-self", token="root"
                ),
                "sys/leases/lookup": lambda name: build_request(
                    "PUT", "/v1/sys/leases/lookup", token="root", body={"lease_id": lookups[name]}
                ),
            }
            results: dict[tuple[str, str], list[LoadResult]] = {}
            for round_ in range(args.rounds):
                for load_name, make in loads.items():
                    for name, target in targets.items():
                        if load_name != "lookup-self" and name not in lookups:
                            continue
                        port = target.port  # type: ignore[attr-defined]
                        result = run_load(
                            "127.0.0.1",
                            port,
                            [make(name)],
                            conns=args.conns,
                            seconds=args.seconds,
                            procs=args.procs,
                        )
                        results.setdefault((load_name, name), []).append(result)
                        print(
                            f"round {round_ + 1} {load_name:18} {name:26} "
                            f"{result.rate:8.0f}/s errors={result.errors}",
                            file=sys.stderr,
                            flush=True,
                        )
        finally:
            for target in targets.values():
                target.stop()
    print(
        f"\nload: {args.conns} connections, {args.procs} client process(es), "
        f"{args.seconds:g} s a round, median of {args.rounds} rounds\n"
    )
    print("| request | target | req/s | p50 ms | p99 ms | errors | vs OpenBao | vs bare (Py) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for load_name in loads:
        bao_rate = median_round(results[(load_name, "openbao dev")]).rate
        bare = results.get((load_name, "bare aiohttp (Py parser)"))
        bare_rate = median_round(bare).rate if bare else None
        for name in targets:
            found = results.get((load_name, name))
            if not found:
                continue
            r = median_round(found)
            spread = statistics.pstdev(x.rate for x in found)
            vs_bare = f"{r.rate / bare_rate:.2f}" if bare_rate else "-"
            print(
                f"| {load_name} | {name} | {r.rate:,.0f} (±{spread:,.0f}) | {r.p50_ms:.2f} "
                f"| {r.p99_ms:.2f} | {r.errors} | {r.rate / bao_rate:.2f} | {vs_bare} |"
            )


if __name__ == "__main__":
    main()
