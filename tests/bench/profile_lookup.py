"""Where a lookup-self goes: a profile of the broker under load, split by stage.

    .venv/bin/python tests/bench/profile_lookup.py [--seconds 5] [--path auth/token/lookup-self]
        [--profiler pyinstrument|cprofile]

`--path sys/leases/lookup` drives PUT sys/leases/lookup of one entra lease among 1,000
seeded, as bench_http.py does; any other path is a GET.

Runs the broker under a profiler (tests/bench/serve_broker.py --profile), drives GET
`--path` with the load client, then prints microseconds per request for each stage
(the time of the function that does it, its callees included, divided by the requests
served). pyinstrument (the default) samples the stack every 0.2 ms, so requests run at
nearly their real speed; cProfile counts every call and slows them about twofold, which
inflates stages made of many small calls: read its shares, not its absolute figures.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.loadgen import build_request, run_load
from tests.bench.targets import Broker, lease_record, seed_leases

LEASE_LOOKUP = "sys/leases/lookup"

# (stage, file suffix, function name); nested stages are indented in the output.
STAGES = [
    ("aiohttp: read and parse the HTTP request", "aiohttp/http_parser.py", "feed_data"),
    # Connections start on the C parser, seen through the wrapper that switches parsers.
    ("aiohttp: read and parse the HTTP request", "mount/http/list_method.py", "feed_data"),
    ("aiohttp: request handling, all of it", "aiohttp/web_protocol.py", "_handle_request"),
    ("  metrics middleware (and all inside it)", "mount/http/metrics.py", "count_requests"),
    ("    our handler (api)", "mount/http/app.py", "api"),
    ("      parse_request (headers, body, ids)", "mount/http/envelope.py", "parse_request"),
    ("        read the body (aiohttp)", "aiohttp/web_request.py", "read"),
    ("      Core.handle", "mount/core.py", "handle"),
    ("        audit trail (disabled: no device)", "mount/audit/broker.py", "trail"),
    ("        authenticate (token lookup)", "mount/core.py", "authenticate"),
    ("        authorize (ACL)", "mount/core.py", "authorize"),
    ("        backend.handle (path table, handler)", "mount/sdk/framework.py", "handle"),
    ("      render (JSON envelope)", "mount/http/envelope.py", "render"),
    ("  aiohttp: write the response", "aiohttp/web_protocol.py", "finish_response"),
]


def stage_times(stats: pstats.Stats) -> dict[str, float]:
    found: dict[str, float] = {}
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, _tt, cumulative, _callers) in raw.items():
        for stage, suffix, function in STAGES:
            if filename.endswith(suffix) and name == function:
                found[stage] = found.get(stage, 0.0) + cumulative
    return found


def sampled_stage_times(session: Any) -> tuple[dict[str, float], float, float]:
    """Per stage seconds from a pyinstrument session, the total, and the time idle in
    the event loop's select (the loop waiting for the next request)."""
    found: dict[str, float] = {}
    idle = 0.0
    root = session.root_frame()

    def walk(frame: Any, inside: frozenset[str]) -> None:
        nonlocal idle
        path = frame.file_path or ""
        here = set(inside)
        for stage, suffix, function in STAGES:
            # A stage counts once, at its outermost frame (recursion, nested awaits).
            if stage not in inside and path.endswith(suffix) and frame.function == function:
                found[stage] = found.get(stage, 0.0) + frame.time
                here.add(stage)
        if path.endswith("selectors.py") and frame.function == "select":
            idle += frame.time
            return
        for child in frame.children:
            walk(child, frozenset(here))

    if root is None:
        return found, 0.0, 0.0
    walk(root, frozenset())
    return found, root.time, idle


def seeded_lease_lookup(data: Path) -> bytes:
    """Seed 1,000 entra leases into `data`; the PUT sys/leases/lookup of one of them."""
    now = time.time()
    ids = [f"entra/creds/bench-0/lease{i:06d}" for i in range(1000)]
    records = {
        lease: lease_record(lease, now + 7200, f"obj-{i}", "u@bench.test", now)
        for i, lease in enumerate(ids)
    }
    seed_leases(data, "tinydb", records)
    return build_request("PUT", f"/v1/{LEASE_LOOKUP}", token="root", body={"lease_id": ids[500]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--path", default="auth/token/lookup-self")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--callees", action="append", default=[], help="cProfile: print what NAME calls"
    )
    parser.add_argument("--profiler", choices=["pyinstrument", "cprofile"], default="pyinstrument")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        suffix = ".pyisession" if args.profiler == "pyinstrument" else ".prof"
        out = Path(temp) / f"broker{suffix}"
        data = Path(temp) / "data"
        request = build_request("GET", f"/v1/{args.path}", token="root")
        if args.path == LEASE_LOOKUP:
            request = seeded_lease_lookup(data)
        broker = Broker(data, "tinydb", profile=out)
        try:
            broker.ready()
            result = run_load(
                "127.0.0.1",
                broker.port,
                [request],
                conns=16,
                seconds=args.seconds,
            )
        finally:
            broker.stop()
        if args.profiler == "pyinstrument":
            from pyinstrument.session import Session

            times, total, idle = sampled_stage_times(Session.load(str(out)))
            stats = None
        else:
            stats = pstats.Stats(str(out))
            times, idle = stage_times(stats), 0.0
            total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    served = result.count
    print(f"{served} requests ({result.rate:,.0f}/s under {args.profiler})\n")
    if idle:
        print(f"event loop idle in select: {idle / total:.0%} of the sampled time (excluded)\n")
        total -= idle
    print("| stage | us / request | share of busy time |")
    print("|---|---:|---:|")
    for stage in dict.fromkeys(stage for stage, _suffix, _function in STAGES):
        seconds = times.get(stage, 0.0)
        label = stage.replace("  ", "&nbsp;&nbsp;")
        print(f"| {label} | {seconds / served * 1e6:.0f} | {seconds / total:.0%} |")
    print(f"| all busy time (incl. event loop) | {total / served * 1e6:.0f} | 100% |\n")
    if stats is not None:
        stats.sort_stats("tottime").print_stats(args.top)
        for name in args.callees:
            stats.print_callees(name)


if __name__ == "__main__":
    main()
