"""Where a lookup-self goes: cProfile of the broker under load, split by stage.

    .venv/bin/python tests/bench/profile_lookup.py [--seconds 5] [--path auth/token/lookup-self]

Runs the broker under cProfile (tests/bench/serve_broker.py --profile), drives GET
`--path` with the load client, then prints microseconds per request for each stage
(cumulative time of the function that does it, divided by the requests served). The
profiler slows everything several-fold: read the shares, not the absolute figures.
"""

from __future__ import annotations

import argparse
import pstats
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.loadgen import build_request, run_load  # noqa: E402
from tests.bench.targets import Broker  # noqa: E402

# (stage, file suffix, function name); nested stages are indented in the output.
STAGES = [
    ("aiohttp: read and parse the HTTP request", "aiohttp/http_parser.py", "feed_data"),
    ("aiohttp: request handling, all of it", "aiohttp/web_protocol.py", "_handle_request"),
    ("  metrics middleware (and all inside it)", "mount/http_metrics.py", "count_requests"),
    ("    our handler (api)", "mount/app.py", "api"),
    ("      parse_request (headers, body, ids)", "mount/http.py", "parse_request"),
    ("      Core.handle", "mount/core.py", "handle"),
    ("        audit trail (disabled: no device)", "mount/audit/broker.py", "trail"),
    ("        authenticate (token lookup)", "mount/core.py", "authenticate"),
    ("        authorize (ACL)", "mount/core.py", "authorize"),
    ("        backend.handle (path table, handler)", "mount/sdk/framework.py", "handle"),
    ("      render (JSON envelope)", "mount/http.py", "render"),
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--path", default="auth/token/lookup-self")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        out = Path(temp) / "broker.prof"
        broker = Broker(Path(temp) / "data", "tinydb", profile=out)
        try:
            broker.ready()
            result = run_load(
                "127.0.0.1",
                broker.port,
                [build_request("GET", f"/v1/{args.path}", token="root")],
                conns=16,
                seconds=args.seconds,
            )
        finally:
            broker.stop()
        stats = pstats.Stats(str(out))
    served = result.count
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    print(f"{served} requests ({result.rate:,.0f}/s under the profiler)\n")
    print("| stage | us / request | share of profiled time |")
    print("|---|---:|---:|")
    times = stage_times(stats)
    for stage, _suffix, _function in STAGES:
        seconds = times.get(stage, 0.0)
        label = stage.replace("  ", "&nbsp;&nbsp;")
        print(f"| {label} | {seconds / served * 1e6:.0f} | {seconds / total:.0%} |")
    print(f"| all profiled time (incl. event loop) | {total / served * 1e6:.0f} | 100% |\n")
    stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
