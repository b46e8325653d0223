"""Lease end -> password dead, under kill -9 cycles with 30 % of Graph calls failing.

    .venv/bin/python tests/bench/bench_revoke_faults.py [--waves 10] [--rounds 6] [--short]

Runs the scenario of tests/e2e/test_crash.py's faults variant: the broker
(`entra-broker server`, TinyDB) and the emulator (8 users) as subprocesses, rotate-mode
roles with TTLs of 2-4 s, client traffic (reads, renewals, revocations) and SIGKILL
restarts while 30 % of Graph calls fail (a third each: 503 with Retry-After: 1, 500, a
reset applied whose answer is dropped). Each wave ends with one fresh credential per user
left to expire under the faults, one more kill, then the faults stop; each of those
passwords is polled (every 0.2 s) from its lease's end until it no longer signs in.
Printed, as a table: min, median, p90 and max of "lease end -> password dead" (also for
the leases that ended while the broker was down) and of "faults stop -> password dead".

Without `--short` the broker runs its production schedule (revocation retries from 1 s
up to 60 s, Graph's Retry-After honoured up to 60 s, 30 s per Graph operation); with it,
the default test run's (0.2 s to 2 s, 1 s, 2 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.e2e.test_crash import (
    PRODUCTION_BOUND,
    SHORT_BOUND,
    SHORT_KNOBS,
    _fault_env,
    _run_faults_test,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--waves", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=6, help="kill -9 rounds per wave")
    parser.add_argument("--short", action="store_true", help="the test run's short schedule")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        knobs = SHORT_KNOBS if args.short else None
        with _fault_env(Path(temp), knobs) as (emulator, broker):
            deaths = _run_faults_test(
                emulator,
                broker,
                waves=args.waves,
                rounds=args.rounds,
                bound=SHORT_BOUND if args.short else PRODUCTION_BOUND,
            )
    print(deaths.table())


if __name__ == "__main__":
    main()
