"""`entra-broker` with the revocation schedule and Graph limits shortened, for crash tests.

    python tests/e2e/crash_server.py --revoke-backoff-base 0.2 --revoke-backoff-max 2 \
        --graph-deadline 1 --graph-max-retry-after 1 -- server --config broker.hcl

Everything after `--` is the ordinary `entra-broker` command line. The knobs are the
ones tests set on an in-process broker (BrokerOptions, EntraBackend attributes); the
server itself has no setting for them, so a test killing it with SIGKILL needs this.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import mount.build
import plugin.backend
from mount.core import Core


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--revoke-backoff-base", type=float)
    parser.add_argument("--revoke-backoff-max", type=float)
    parser.add_argument("--revoke-slow-interval", type=float)
    parser.add_argument("--graph-deadline", type=float)
    parser.add_argument("--graph-max-retry-after", type=float)
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    changes = {
        name: value
        for name, value in (
            ("revoke_backoff_base", args.revoke_backoff_base),
            ("revoke_backoff_max", args.revoke_backoff_max),
            ("revoke_slow_interval", args.revoke_slow_interval),
        )
        if value is not None
    }
    build_core = mount.build.build_core

    async def shortened(options: mount.build.BrokerOptions) -> Core:
        return await build_core(replace(options, settings=options.settings.with_leases(**changes)))

    # Before mount.run is imported: it binds build_core by name.
    mount.build.build_core = shortened  # type: ignore[assignment]
    if args.graph_deadline is not None:
        plugin.backend.DEFAULT_DEADLINE = args.graph_deadline
    if args.graph_max_retry_after is not None:
        plugin.backend.DEFAULT_MAX_RETRY_AFTER = args.graph_max_retry_after
    cli = importlib.import_module("mount.cli")
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    return int(cli.main(rest))


if __name__ == "__main__":
    raise SystemExit(main())
