"""tests/hvac_suite/expected_failures.toml: hvac tests that fail here, each with its reason.

`unsupported`: needs an engine, auth method or feature this server does not serve (the
table in docs/compatibility.md lists exactly these).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("expected_failures.toml")


def entries(group: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = tomllib.loads(DATA.read_text()).get(group, [])
    return found


def ids() -> list[str]:
    return [entry["id"] for entry in entries("unsupported")]
