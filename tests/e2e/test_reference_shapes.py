"""Our answers have the shapes a real OpenBao 2.7.2 gave the same clients.

The captures in tests/reference/openbao/{cli,hvac}/ (copied from shared/reference) were
made against OpenBao's database engine at `db/` with a role `app` of ttl 20s, max 60s.
Here the Entra role `alice` gets the same TTLs and every captured CLI command is replayed
with `db/creds/app` read as `entra/creds/alice`: exit codes, table rows, JSON key order,
error texts and warnings must match, except the engine's own data rows (username vs
user_principal_name/object_id) and values that depend on the clock.
"""

from __future__ import annotations

import json
import re
import shlex
import time
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest
import requests

from mount.sdk.durations import parse_duration
from tests.broker_thread import BrokerThread
from tests.e2e.conftest import Bao, Run, Setup, make_client, table
from tests.waiting import wait_until_sync

REFERENCE = Path(__file__).resolve().parents[1] / "reference" / "openbao"
CLI = REFERENCE / "cli"
HVAC = REFERENCE / "hvac"

THEIR_ADDR = "http://127.0.0.1:8300"
THEIR_ENGINE_ROWS = {"password", "username"}
OUR_ENGINE_ROWS = {"object_id", "password", "user_principal_name"}
TIME_ROWS = {"expire_time", "issue_time", "last_renewal"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
WRONG_TOKEN = "s.NotARealTokenAtAll12345"

SCENARIOS = [
    "01_read_creds_table",
    "02_read_creds_json",
    "03_lease_lookup",
    "04_lease_renew",
    "05_lease_renew_increment",
    "07_lease_revoke",
    "10_renew_nonexistent",
    "11_lookup_nonexistent",
    "12_no_token",
    "13_wrong_token",
    "24_renew_capped_table",
]


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def seconds(text: str | int) -> int:
    return int(parse_duration(text).total_seconds())


def is_table(text: str) -> bool:
    lines = text.splitlines()
    return len(lines) >= 2 and lines[0].startswith("Key ") and lines[1].startswith("---")


class Replay:
    """Maps their names and lease ids to ours while a scenario is replayed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ids: dict[str, str] = {}

    def ours(self, text: str) -> str:
        for theirs, ours in self.ids.items():
            text = text.replace(theirs, ours)
        return (
            text.replace(THEIR_ADDR, self.url)
            .replace("db/creds/app", "entra/creds/alice")
            .replace("db/roles", "entra/roles")
        )

    def learn(self, theirs: Run | dict, ours: Run) -> None:
        """After a creds read: remember which of our lease ids stands for theirs."""
        their_out = theirs["stdout"] if isinstance(theirs, dict) else theirs.stdout
        if is_table(their_out):
            self.ids[table(their_out)["lease_id"]] = table(ours.stdout)["lease_id"]
        else:
            self.ids[json.loads(their_out)["lease_id"]] = json.loads(ours.stdout)["lease_id"]


def compare_value(
    key: str, theirs: Any, ours: Any, capped: bool, where: str, tolerance: int = 3
) -> None:
    if key in TIME_ROWS:
        if theirs in (None, "<nil>"):
            assert ours == theirs, where
        else:
            assert isinstance(ours, str) and RFC3339.match(ours), where
    elif key == "request_id":
        assert isinstance(ours, str) and UUID.match(ours), where
    elif key == "ttl" or (key == "lease_duration" and capped):
        # Clock dependent: their commands ran seconds apart, ours may not (unless timed).
        assert abs(seconds(ours) - seconds(theirs)) <= tolerance, f"{where}: {ours} vs {theirs}"
    else:
        assert ours == theirs, f"{where}: {ours!r} vs {theirs!r}"


def compare_table(theirs: str, ours: str, capped: bool, where: str, tolerance: int = 3) -> None:
    their_rows, our_rows = table(theirs), table(ours)
    their_keys = [k for k in their_rows if k not in THEIR_ENGINE_ROWS]
    our_keys = [k for k in our_rows if k not in OUR_ENGINE_ROWS]
    assert our_keys == their_keys, f"{where}: rows {list(our_rows)} vs {list(their_rows)}"
    if THEIR_ENGINE_ROWS <= set(their_rows):
        # The engine's rows come after the lease rows, sorted, as the CLI prints data.
        engine = list(our_rows)[len(our_keys) :]
        assert engine == sorted(OUR_ENGINE_ROWS), f"{where}: {list(our_rows)}"
    for key in their_keys:
        compare_value(key, their_rows[key], our_rows[key], capped, f"{where} row {key}", tolerance)


def compare_json(theirs: str, ours: str, capped: bool, where: str, tolerance: int = 3) -> None:
    their_doc, our_doc = json.loads(theirs), json.loads(ours)
    assert list(our_doc) == list(their_doc), f"{where}: keys {list(our_doc)}"
    for key, value in their_doc.items():
        if key == "data" and isinstance(value, dict):
            if THEIR_ENGINE_ROWS <= set(value):
                assert sorted(our_doc["data"]) == sorted(OUR_ENGINE_ROWS), where
                continue
            assert list(our_doc["data"]) == list(value), f"{where}: data keys"
            for inner, their_inner in value.items():
                compare_value(inner, their_inner, our_doc["data"][inner], capped, where, tolerance)
        elif key == "warnings" and value:
            compare_warnings(value, our_doc["warnings"], where)
        else:
            compare_value(key, value, our_doc[key], capped, f"{where} key {key}", tolerance)


DURATION_IN_QUOTES = re.compile(r'"[0-9hms]+"')


def compare_warnings(theirs: list[str], ours: list[str], where: str) -> None:
    assert len(ours) == len(theirs), where
    for their_text, our_text in zip(theirs, ours, strict=True):
        their_shape = DURATION_IN_QUOTES.sub('"<d>"', their_text)
        our_shape = DURATION_IN_QUOTES.sub('"<d>"', our_text)
        assert our_shape == their_shape, where


def flat(text: str) -> str:
    return " ".join(DURATION_IN_QUOTES.sub('"<d>"', text).split())


@pytest.fixture
def reference_role(configured: Setup) -> Setup:
    configured.role("alice", ttl="20s", max_ttl="60s")
    return configured


def replay_scenario(bao: Bao, url: str, scenario: str, *, timed: bool = False) -> None:
    """Run a captured CLI session against us and compare every command's outcome.

    `timed` replays the commands at their captured offsets, starting at the same fraction
    of a second (Vault's TTL cap works on whole seconds), so even capped TTLs must match.
    """
    replay = Replay(url)
    commands = load(CLI / f"{scenario}.cmds.jsonl")
    assert commands
    tolerance = 1 if timed else 3
    first = commands[0]["t_start"]
    if timed:
        phase = first % 1
        wait_until_sync(lambda: abs(time.time() % 1 - phase) < 0.01, timeout=3, interval=0.002)
    started = time.time()
    for step, captured in enumerate(commands):
        argv = shlex.split(replay.ours(captured["cmd"]))
        assert argv[0] == "bao"
        if argv[1] == "status":
            continue  # the server's own facts (cluster name, commit date): not a lease shape
        if timed:
            due = started + captured["t_start"] - first
            wait_until_sync(lambda due=due: time.time() >= due, timeout=120, interval=0.005)
        token_env = captured["token_env"]
        token = (
            None
            if "no BAO_TOKEN" in token_env
            else ("root" if "=root" in token_env else WRONG_TOKEN)
        )
        run = bao(*argv[1:], token=token)
        where = f"{scenario} step {step}: {' '.join(argv)}"
        assert run.code == captured["exit_code"], f"{where}\n{run.stdout}\n{run.stderr}"

        their_out, their_err = captured["stdout"], captured["stderr"]
        capped = "WARNING!" in their_err or '"warnings": [' in their_out
        if argv[1] == "read" and "creds" in argv[-1] and run.code == 0:
            replay.learn(captured, run)
        their_out, their_err = replay.ours(their_out), replay.ours(their_err)
        if is_table(their_out):
            compare_table(their_out, run.stdout, capped, where, tolerance)
        elif their_out.lstrip().startswith("{"):
            compare_json(their_out, run.stdout, capped, where, tolerance)
        else:
            assert run.stdout == their_out, where
        if capped:
            assert flat(run.stderr) == flat(their_err), f"{where}\n{run.stderr}"
        else:
            assert run.stderr == their_err, f"{where}\n{run.stderr}"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_cli_replay_matches_openbao(
    reference_role: Setup, bao: Bao, broker: BrokerThread, scenario: str
) -> None:
    replay_scenario(bao, broker.url, scenario)


@pytest.mark.slow
def test_cli_renew_until_max_ttl_replayed_in_real_time(
    reference_role: Setup, bao: Bao, broker: BrokerThread
) -> None:
    """OpenBao's 66-second session (cli/06): renewals every ~9s, capped at 22, 13 and 4
    seconds by the 60s max TTL, then `lease not found` / `invalid lease` once it expired."""
    replay_scenario(bao, broker.url, "06_renew_until_max_ttl", timed=True)


# -- the HTTP answers behind those commands ------------------------------------------------------


def captured_exchange(scenario: str, method: str, path: str, status: int) -> dict[str, Any]:
    for exchange in load(CLI / f"{scenario}.jsonl"):
        if (
            exchange["method"] == method
            and exchange["path"] == path
            and exchange["status"] == status
        ):
            return exchange
    raise AssertionError(f"no {method} {path} {status} in {scenario}")


def test_envelopes_and_lease_data_have_openbao_keys_in_order(reference_role: Setup) -> None:
    api = reference_role.api
    read = api.request("GET", "entra/creds/alice")
    theirs = captured_exchange("01_read_creds_table", "GET", "/v1/db/creds/app", 200)
    assert list(read.json()) == list(theirs["resp_json"])
    assert read.text.endswith("}\n") and "\n" not in read.text[:-1]
    lease_id = read.json()["lease_id"]

    lookup = reference_role.lookup(lease_id)
    theirs = captured_exchange("03_lease_lookup", "PUT", "/v1/sys/leases/lookup", 200)
    assert list(lookup.json()) == list(theirs["resp_json"])
    assert list(lookup.json()["data"]) == list(theirs["resp_json"]["data"])
    for key in ("lease_id", "renewable", "lease_duration", "wrap_info", "warnings", "auth"):
        assert lookup.json()[key] == theirs["resp_json"][key], key
    data = lookup.json()["data"]
    assert data["path"] == "entra/creds/alice" and data["id"] == lease_id
    assert data["last_renewal"] is None and type(data["ttl"]) is int

    renew = api.request("PUT", "sys/leases/renew", json={"increment": 0, "lease_id": lease_id})
    theirs = captured_exchange("04_lease_renew", "PUT", "/v1/sys/leases/renew", 200)
    assert list(renew.json()) == list(theirs["resp_json"])
    expected = {**theirs["resp_json"], "request_id": renew.json()["request_id"]}
    expected["lease_id"] = lease_id
    assert renew.json() == expected

    capped = api.request("PUT", "sys/leases/renew", json={"increment": 3600, "lease_id": lease_id})
    theirs = captured_exchange("24_renew_capped_table", "PUT", "/v1/sys/leases/renew", 200)
    assert list(capped.json()) == list(theirs["resp_json"])
    compare_warnings(theirs["resp_json"]["warnings"], capped.json()["warnings"], "capped renew")


@pytest.mark.parametrize(
    "scenario,body",
    [
        ("10_renew_nonexistent", {"increment": 0, "lease_id": "db/creds/app/doesnotexist"}),
        ("10_renew_nonexistent", {"increment": 0, "lease_id": ""}),
        ("11_lookup_nonexistent", {"lease_id": "db/creds/app/doesnotexist"}),
    ],
)
def test_lease_error_bodies_are_byte_identical(
    reference_role: Setup, scenario: str, body: dict
) -> None:
    for exchange in load(CLI / f"{scenario}.jsonl"):
        if exchange["req_json"] != body:
            continue
        path = exchange["path"].removeprefix("/v1/")
        ours = reference_role.api.request(
            exchange["method"], path, content=exchange["req_body"].replace("db/creds/app", "x")
        )
        assert ours.status_code == exchange["status"]
        assert ours.text == exchange["resp_body"]
        return
    raise AssertionError(f"{body} not in {scenario}")


def test_list_and_revoke_statuses(reference_role: Setup) -> None:
    api = reference_role.api
    lease_id = reference_role.creds("alice")["lease_id"]
    read = api.request("GET", "sys/leases/lookup/entra/creds/alice")
    assert read.status_code == 405  # GET without list=true is a read: unsupported
    listed = api.request("GET", "sys/leases/lookup/entra/creds/alice?list=true")
    assert listed.status_code == 200
    assert listed.json()["data"] == {"keys": [lease_id.rsplit("/", 1)[1]]}
    queued = api.request("PUT", f"sys/leases/revoke/{lease_id}", json={"sync": False})
    assert queued.status_code == 202 and queued.text == ""
    again = api.request("PUT", f"sys/leases/revoke/{lease_id}", json={"sync": True})
    assert again.status_code == 204 and again.text == ""
    assert again.headers["Content-Type"] == "application/json"


def test_content_type_is_exactly_application_json(reference_role: Setup) -> None:
    theirs = captured_exchange("10_renew_nonexistent", "PUT", "/v1/sys/leases/renew", 400)
    assert dict(theirs["resp_headers"])["Content-Type"] == "application/json"
    api = reference_role.api
    for response in (
        api.request("GET", "entra/creds/alice"),
        api.request("PUT", "sys/leases/renew", json={"lease_id": "entra/creds/alice/x"}),
        api.request("GET", "entra/creds/nope"),
    ):
        assert response.headers["Content-Type"] == "application/json", response.request.url


# -- hvac's view -------------------------------------------------------------------------------


def captured_calls(name: str) -> dict[str, dict[str, Any]]:
    return {c["call"]: c for c in load(HVAC / f"{name}.calls.jsonl")}


def test_hvac_returns_what_it_returned_from_openbao(
    reference_role: Setup, broker: BrokerThread
) -> None:
    client = make_client(broker)
    secret = client.read("entra/creds/alice")
    lease_id = secret["lease_id"]
    their_id = "db/creds/app/ugdWWYgWmYacP1BcfHScJ7kP"

    lookups = captured_calls("02_read_lease")
    theirs = lookups[f"c.sys.read_lease(lease_id='{their_id}')"]["returned"]["value"]
    ours = client.sys.read_lease(lease_id)
    assert list(ours) == list(theirs) and list(ours["data"]) == list(theirs["data"])

    renews = captured_calls("03_renew_lease")
    for call, kwargs in (
        (f"c.sys.renew_lease(lease_id='{their_id}')", {}),
        (f"c.sys.renew_lease(lease_id='{their_id}', increment=30)", {"increment": 30}),
        (f"c.sys.renew_lease(lease_id='{their_id}', increment='45s')", {"increment": "45s"}),
    ):
        theirs = renews[call]["returned"]["value"]
        ours = client.sys.renew_lease(lease_id, **kwargs)
        assert {**ours, "request_id": None} == {
            **theirs,
            "request_id": None,
            "lease_id": lease_id,
        }, call

    revokes = captured_calls("05_revoke_lease")
    theirs = revokes[f"c.sys.revoke_lease(lease_id='{their_id}')"]["returned"]
    ours = client.sys.revoke_lease(lease_id)
    assert isinstance(ours, requests.Response)
    assert (ours.status_code, ours.text, bool(ours)) == (
        theirs["status_code"],
        theirs["text"],
        theirs["bool"],
    )
    again = client.sys.revoke_lease(lease_id)
    assert again.status_code == 204
    with pytest.raises(hvac.exceptions.InvalidRequest, match="invalid lease"):
        client.sys.read_lease(lease_id)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.list_leases("nosuch/")
    assert client.list("sys/leases/lookup/nosuch") is None
