"""Each benchmark script runs end to end at a tiny size and prints its table (`-m slow`).

No figure is checked: these guard the scripts, not the speed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

RUNS = {
    "bench_storage.py": ["--ops", "20", "--sizes", "10", "100"],
    "bench_http.py": ["--seconds", "0.3", "--rounds", "1", "--conns", "4"],
    "bench_leases.py": ["--sizes", "100", "1000", "--seconds", "0.3", "--conns", "4"],
    "bench_startup.py": ["--sizes", "100"],
    "bench_issue.py": ["--clients", "4", "--seconds", "1", "--latency-ms", "20"],
    "bench_openbao_issue.py": ["--clients", "4", "--seconds", "1", "--latency-ms", "20"],
    "bench_expiry.py": ["--leases", "50", "--window", "2", "--lead", "8", "--grace", "30"],
    "profile_lookup.py": ["--seconds", "0.5", "--top", "3"],
    "bench_revoke_faults.py": ["--waves", "1", "--rounds", "1", "--short"],
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(RUNS))
def test_bench_script_prints_its_table(script: str) -> None:
    done = subprocess.run(
        [sys.executable, str(HERE / script), *RUNS[script]],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "|---" in done.stdout, done.stdout[-3000:]
