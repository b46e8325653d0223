"""Serve the broker for a benchmark: like `entra-broker server`, with a fixed root token.

`python tests/bench/serve_broker.py --data DIR --store tinydb --listen 127.0.0.1:PORT`
opens (or creates) the sealed store in DIR, builds the same core and app as the real
server (entra/ mounted, logging at `--log-level`), makes the root token `root` and prints
`READY <url>` when it serves. The per-role issue limit is off: benchmarks issue far more
than 30 credentials a minute per role.
"""

from __future__ import annotations

import argparse
import cProfile
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import plugin
from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.core import CoreSettings
from mount.http.app import create_app
from mount.http.server import run_loop, serve
from mount.logging_setup import setup_logging
from mount.storage.barrier import Barrier
from mount.storage.log import LogStore
from mount.storage.open import open_store
from mount.storage.split import SplitStore
from mount.storage.store import TinyDBStore

SEAL_KEY = b"b" * 32
ROOT_TOKEN = "root"


def store_path(data: Path, kind: str) -> Path:
    return data / f"broker-{kind}.db"


def open_bench_store(
    kind: str, path: Path, barrier: Barrier | None
) -> SplitStore | LogStore | TinyDBStore:
    """A store a user can configure ("tinydb", "log"), or "tinydb-only": everything in
    one TinyDB file, as the default was before leases and tokens moved to a log beside
    it, kept for before/after figures."""
    if kind == "tinydb-only":
        return TinyDBStore(path, barrier)
    return open_store(kind, path, barrier)


def start_profiler(path: Path | None) -> Callable[[], None]:
    """Profile the serving thread until the returned function is called, which writes
    `path`: pyinstrument's session for a `.pyisession` path (sampling, so requests run at
    nearly their real speed), cProfile's stats otherwise (every call counted, about
    twice slower)."""
    if path is None:
        return lambda: None
    if path.suffix == ".pyisession":
        from pyinstrument import Profiler

        sampler = Profiler(interval=0.0002, async_mode="disabled")
        sampler.start()
        return lambda: sampler.stop().save(str(path))
    tracer = cProfile.Profile()
    tracer.enable()

    def stop() -> None:
        tracer.disable()
        tracer.dump_stats(path)

    return stop


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--store", default="tinydb")
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--log-level", default="info")
    parser.add_argument(
        "--profile",
        type=Path,
        help="write a profile of serving to this file (.pyisession: pyinstrument, else cProfile)",
    )
    args = parser.parse_args()
    stop_profiler: Callable[[], None] = lambda: None  # noqa: E731
    setup_logging(args.log_level)
    store = open_bench_store(args.store, store_path(args.data, args.store), Barrier(SEAL_KEY))
    try:
        core = await build_core(
            BrokerOptions(
                store=store,
                settings=CoreSettings(storage_type=args.store).with_leases(role_issue_limit=0),
                engines=[EngineMount("entra/", "entra", plugin.factory)],
            )
        )
        await ensure_root_token(core, ROOT_TOKEN)
        stop_profiler = start_profiler(args.profile)
        await serve(
            create_app(core),
            address=args.listen,
            on_ready=lambda url: print(f"READY {url}", flush=True),
        )
    finally:
        stop_profiler()
        await store.close()


if __name__ == "__main__":
    run_loop(main())  # the real server's loop (uvloop where installed)
