"""Replays captured OpenBao traffic against our core and compares status codes and bodies.

The recording engine is mounted at `db/` with a role `app` of ttl 20s / max 60s, like the
captured server, so every sys/ request can be replayed as it was sent. Lease ids from the
capture are mapped to the ones our server issues in the same order.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.http.app import create_app
from mount.storage.memory import MemoryStore
from tests.noop_backend import NoopEngine, NoopRole

CAPTURES = Path(__file__).resolve().parents[1] / "reference" / "openbao" / "http"
FILES = sorted(p.name for p in CAPTURES.glob("*.jsonl"))

# Exchanges that are about the captured engine or a deliberate difference, not the core.
SKIPPED_PREFIXES = (
    "/v1/db/roles",  # the database engine's own role endpoint
    "/v1/sys/renew",  # OpenBao 2.7 removed the legacy forms; Vault (and we) serve them
    "/v1/sys/revoke",
    "/v2/",
)


def _exchanges(name: str) -> list[dict]:
    return [json.loads(line) for line in (CAPTURES / name).read_text().splitlines() if line]


def _normalised(warnings: list[str] | None) -> list[str] | None:
    """Warnings with durations and our server's name made neutral; nothing else."""
    if warnings is None:
        return None
    return [
        re.sub(r'"[0-9hms]+"', '"<duration>"', w).replace("entra-broker's", "OpenBao's")
        for w in warnings
    ]


def _substitute(text: str, ids: dict[str, str]) -> str:
    for theirs, ours in ids.items():
        text = text.replace(theirs, ours)
    return text


def _standing_clock():
    start = time.time()
    return lambda: start


@pytest.fixture
async def client(aiohttp_client):
    engine = NoopEngine(roles={"app": NoopRole(ttl=20, max_ttl=60)})
    core = await build_core(
        BrokerOptions(
            store=MemoryStore(),
            engines=[EngineMount("db/", "database", engine.factory)],
            # The capture's renewals ran within one second of the read: a clock that stands
            # still keeps "1m" capped at exactly the 60 s max TTL however loaded the machine.
            clock=_standing_clock(),
        )
    )
    await ensure_root_token(core, "root")
    return await aiohttp_client(create_app(core))


@pytest.mark.parametrize("name", FILES)
async def test_replayed_exchange_matches_openbao(client, name):
    ids: dict[str, str] = {}
    compared = 0
    for exchange in _exchanges(name):
        path = exchange["path"]
        if path.startswith(SKIPPED_PREFIXES) or not path.startswith("/v1/"):
            continue
        headers = {
            k: v
            for k, v in exchange["req_headers"]
            if k.lower() in ("content-type", "x-vault-token", "authorization")
        }
        query = exchange["query"]
        url = _substitute(path + ("?" + query if query else ""), ids)
        body = _substitute(exchange["req_body"], ids).encode()
        response = await client.request(
            exchange["method"], url, data=body, headers=headers, skip_auto_headers={"Content-Type"}
        )
        text = await response.text()
        where = f"{name} seq {exchange['seq']}: {exchange['method']} {url}"
        assert response.status == exchange["status"], f"{where}: {text}"
        compared += 1
        if exchange["status"] >= 400 or exchange["status"] in (202, 204) and not text:
            assert text == _substitute(exchange["resp_body"], ids), where
            continue
        theirs = exchange.get("resp_json")
        if not isinstance(theirs, dict):
            continue
        ours = json.loads(text)
        assert list(ours) == list(theirs), where
        if isinstance(theirs.get("data"), dict) and "keys" not in theirs["data"]:
            assert sorted(ours["data"]) == sorted(theirs["data"]) or path.startswith(
                "/v1/db/creds"
            ), where
            for key, value in theirs["data"].items():
                if key in ours["data"] and value is not None and ours["data"][key] is not None:
                    assert type(ours["data"][key]) is type(value), f"{where}: data.{key}"
        assert _normalised(ours.get("warnings")) == _normalised(theirs.get("warnings")), where
        lease = theirs.get("lease_id")
        if path.startswith("/v1/db/creds") and lease:
            ids[lease] = ours["lease_id"]
        elif isinstance(theirs.get("data"), dict) and "keys" in theirs["data"]:
            # Listing keys are our own lease suffixes (and the capture also held leases of
            # earlier scenarios): only compare that both listed something.
            assert ours["data"]["keys"], where
    assert compared > 0
