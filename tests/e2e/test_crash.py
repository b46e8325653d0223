"""Crash safety: the broker is killed with SIGKILL under lease traffic, again and again.

One Entra emulator subprocess (users u0..u7@example.test) serves the whole test; the
broker (`entra-broker server --config`, TinyDB storage) is a subprocess restarted many
times on the same data directory and port. Roles r0..r7 (rotate mode, TTL 2-4 s,
max TTL 10 s) see random creds reads, renewals and sync/async revocations from a few
client threads (tests/e2e/crash_traffic.py); after a random 0.05-1.5 s of traffic the
broker gets SIGKILL, sometimes stays down for a few seconds (so leases expire while it
is down), and is started again. After every restart, with traffic paused:

- the storage file parses as JSON and the server starts on it (never corrupt);
- no lease that had expired (by the clients' upper bound of its expire time) before the
  start is still tracked a few seconds after the start, and the server settles with
  every tracked lease alive (pending and expired leases are revoked at start);
- every lease id a client ever received is either still tracked, or its password no
  longer signs in at the emulator (revoked with its password reset);
- for each user at most one received password signs in, and its lease is tracked.

After the last round the traffic stops: a received password that signs in must belong
to a live lease (lookup 200), which must be the user's newest received lease; then every
lease ends on its own (nobody renews), and afterwards no received password signs in.
Whether a password works is always asked of the emulator, never inferred. The broker's
log must hold no traceback and no error line, and no request may get an answer the API
does not document for it (a 5xx, say).

Rotate mode must also leave at most one live lease per user at every check. (This test
once caught a renewal or async revocation racing a read and reviving the superseded
lease; the regression tests at the end of this module pin that down.)

With Graph failing (`test_sigkill_with_graph_faults_*`): the same kill -9 cycles while
30 % of Graph calls fail, checking after each restart that no received lease is
forgotten while its password works; then, per wave, one fresh credential per user left
to expire under the faults, and every one of those passwords must stop signing in soon
after the faults stop (60 s with the production schedule). The slow variant (and
tests/bench/bench_revoke_faults.py) prints the distribution of "lease end -> password
dead"; docs/performance.md has the figures.

Rounds: 5 by default (`QUICK_ROUNDS`). More with `ENTRA_BROKER_CRASH_ROUNDS=200 pytest
tests/e2e/test_crash.py`, or the slow variant, `pytest -m slow tests/e2e/test_crash.py`
(100 rounds unless `ENTRA_BROKER_CRASH_ROUNDS` says otherwise). `ENTRA_BROKER_CRASH_SEED`
fixes the random choices (the seed is printed in every failure message); the kill
timing stays real, so a run is not exactly reproducible.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import check_password
from tests.e2e.conftest import parse_time
from tests.e2e.crash_traffic import Received, RoleSpec, TrafficDriver

TENANT = "5b7e2c1d-3a4f-4e6b-8c9d-0a1b2c3d4e5f"
CLIENT = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"
SECRET = "crash~ClientSecret~Zq8wX3vN"
USERS = 8
MAX_TTL = 10
QUICK_ROUNDS = 5
SLOW_ROUNDS = 100
LEASE_PREFIX = "sys/expire/id/"
BIN = Path(sys.executable).parent
CRASH_SERVER = Path(__file__).with_name("crash_server.py")


def _command() -> list[str]:
    found = BIN / "entra-broker"
    return [str(found)] if found.exists() else [sys.executable, "-m", "mount"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


class Proc:
    """A subprocess whose stdout and stderr are read in threads, so every wait has a deadline."""

    def __init__(
        self, args: list[str], cwd: Path, name: str, command: list[str] | None = None
    ) -> None:
        self.name = name
        self.proc = subprocess.Popen(
            (command or _command()) + args,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")},
        )
        self.out: list[str] = []
        self.err: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: Any, into: list[str]) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        found: list[re.Match[str]] = []

        def printed() -> bool:
            match = re.search(pattern, "\n".join(self.out))
            if match:
                found.append(match)
                return True
            assert self.alive(), f"{self.name} exited {self.proc.returncode}:\n{self.text()}"
            return False

        _wait(printed, timeout, f"{self.name} printing {pattern!r}")
        return found[0]

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing runs in the process after this."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._finish()

    def terminate(self, timeout: float = 30.0) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not stop on SIGTERM within {timeout}s") from None
        self._finish()
        return code

    def _finish(self) -> None:
        for reader in self._readers:
            reader.join(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()

    def text(self) -> str:
        return "\n".join(self.out + self.err)


class Emulator:
    def __init__(self, workdir: Path) -> None:
        users = [f"u{i}@example.test" for i in range(USERS)]
        args = ["emulator", "--listen", "127.0.0.1:0", "--cert-dir", str(workdir / "certs")]
        args += ["--tenant-id", TENANT, "--client-id", CLIENT, "--client-secret", SECRET]
        for upn in users:
            args += ["--user", upn]
        self.proc = Proc(args, workdir, "emulator")
        match = self.proc.wait_for(r"Entra emulator listening on (https://\S+) \(CA: (.+)\)")
        self.base_url = match.group(1)
        ca = Path(match.group(2))
        self.ca_path = ca if ca.is_absolute() else workdir / ca
        self._loop = asyncio.new_event_loop()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        with httpx.Client(verify=context, trust_env=False, timeout=30) as client:
            response = client.request(method, f"{self.base_url}/_emulator/{path}", json=body)
        assert response.is_success, f"emulator {method} {path}: {response.text}"
        return response.json() if response.content else None

    def fault(self, spec: dict[str, Any]) -> None:
        self.admin("POST", "faults", spec)

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def signs_in(self, upn: str, password: str) -> bool:
        return self._loop.run_until_complete(
            check_password(self.base_url, TENANT, CLIENT, upn, password, self.ca_path)
        )

    def users(self) -> dict[str, dict[str, Any]]:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        with httpx.Client(verify=context, trust_env=False, timeout=30) as client:
            response = client.get(f"{self.base_url}/_emulator/users")
        assert response.status_code == 200, response.text
        return {u["userPrincipalName"]: u for u in response.json()}

    def close(self) -> None:
        self._loop.close()
        self.proc.terminate()


class Broker:
    """The broker subprocess in config mode, restarted on the same storage and port."""

    def __init__(self, workdir: Path, knobs: list[str] | None = None) -> None:
        self.workdir = workdir
        # Options of tests/e2e/crash_server.py (a shortened revocation schedule), if any.
        self.command = None if knobs is None else [sys.executable, str(CRASH_SERVER), *knobs, "--"]
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = workdir / "broker.hcl"
        self.storage = workdir / "data" / "broker.json"
        self.config.write_text(
            f'listener "tcp" {{\n  address = "127.0.0.1:{self.port}"\n  tls_disable = true\n}}\n'
            'storage "tinydb" {\n  path = "data/broker.json"\n}\n'
            "role_issue_limit = 0\n"
        )
        self.proc: Proc | None = None
        self.logs: list[str] = []
        self.starts = 0
        self.http = httpx.Client(base_url=f"{self.url}/v1/", trust_env=False, timeout=30)
        self.token = ""

    def start(self, timeout: float = 30.0) -> None:
        assert self.proc is None or not self.proc.alive()
        self.starts += 1
        self.proc = Proc(
            ["server", "--config", str(self.config)], self.workdir, "broker", self.command
        )
        if self.starts == 1:
            self.token = self.proc.wait_for(r"Root Token: (\S+)", timeout).group(1)
            self.http.headers["X-Vault-Token"] = self.token
        proc = self.proc

        def healthy() -> bool:
            assert proc.alive(), f"broker exited {proc.proc.returncode}:\n{proc.text()}"
            try:
                return self.http.get("sys/health").status_code == 200
            except httpx.TransportError:
                return False

        _wait(healthy, timeout, "broker answering sys/health")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.logs.append(self.proc.text())

    def stop(self) -> int:
        assert self.proc is not None
        code = self.proc.terminate()
        self.logs.append(self.proc.text())
        return code

    def close(self) -> None:
        if self.proc is not None and self.proc.alive():
            self.kill()
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def tracked(self, roles: list[str]) -> set[str]:
        """Every lease id the broker lists under entra/creds/<role>/ (Vault's LIST)."""
        found: set[str] = set()
        for role in roles:
            response = self.request("LIST", f"sys/leases/lookup/entra/creds/{role}/")
            if response.status_code == 404:
                continue
            assert response.status_code == 200, response.text
            found.update(f"entra/creds/{role}/{k}" for k in response.json()["data"]["keys"])
        return found

    def lookup(self, lease_id: str) -> httpx.Response:
        return self.request("PUT", "sys/leases/lookup", json={"lease_id": lease_id})

    def stored_leases(self) -> set[str]:
        """Lease ids in the storage file (key names are not sealed); fails if it is corrupt."""
        text = self.storage.read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise AssertionError(f"storage file is not valid JSON after a kill: {exc}") from None
        assert set(data) >= {"meta", "entries"}, sorted(data)
        keys = [doc["k"] for doc in data["entries"].values()]
        assert len(keys) == len(set(keys)), "duplicate keys in the storage file"
        return {k[len(LEASE_PREFIX) :] for k in keys if k.startswith(LEASE_PREFIX)}


@pytest.fixture
def crash_env(tmp_path: Path) -> Iterator[tuple[Emulator, Broker]]:
    (tmp_path / "emulator").mkdir()
    (tmp_path / "broker").mkdir()
    emulator = Emulator(tmp_path / "emulator")
    broker = Broker(tmp_path / "broker")
    try:
        yield emulator, broker
    finally:
        broker.close()
        emulator.close()


def _configure(broker: Broker, emulator: Emulator, rng: random.Random) -> list[RoleSpec]:
    config = {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "authority_host": emulator.base_url,
        "graph_endpoint": emulator.base_url,
        "ca_cert": emulator.ca_path.read_text(),
    }
    response = broker.request("PUT", "entra/config", json=config)
    assert response.status_code in (200, 204), response.text
    roles = []
    for i in range(USERS):
        role = RoleSpec(f"r{i}", f"u{i}@example.test", ttl=rng.randint(2, 4), max_ttl=MAX_TTL)
        body = {
            "user_principal_name": role.upn,
            "ttl": role.ttl,
            "max_ttl": role.max_ttl,
            "mode": "rotate",
        }
        response = broker.request("PUT", f"entra/roles/{role.name}", json=body)
        assert response.status_code in (200, 204), response.text
        roles.append(role)
    return roles


class Checker:
    """The invariants, checked against the broker's answers and the emulator's sign-ins."""

    def __init__(self, emulator: Emulator, broker: Broker, roles: list[str], seed: int) -> None:
        self.emulator = emulator
        self.broker = broker
        self.roles = roles
        self.seed = seed
        # Received credentials whose password was seen refused: it stays refused.
        self.dead: set[str] = set()
        self.expired_while_down = 0
        self.several_live: list[dict[str, list[str]]] = []
        self.sign_ins = 0

    def fail(self, message: str) -> AssertionError:
        return AssertionError(f"{message} (seed {self.seed})")

    def signs_in(self, cred: Received) -> bool:
        self.sign_ins += 1
        works = self.emulator.signs_in(cred.upn, cred.password)
        if not works:
            self.dead.add(cred.lease_id)
        return works

    def settle(self, timeout: float) -> None:
        """Wait until every tracked lease is alive: pending and expired ones were revoked."""
        stuck: dict[str, int] = {}

        def settled() -> bool:
            stuck.clear()
            for lease_id in sorted(self.broker.tracked(self.roles)):
                status = self.broker.lookup(lease_id).status_code
                if status != 200:
                    stuck[lease_id] = status
            return not stuck

        try:
            _wait(settled, timeout, "tracked leases all alive")
        except AssertionError:
            raise self.fail(f"leases tracked but not alive after {timeout}s: {stuck}") from None
        self.one_live_lease_per_user()

    def one_live_lease_per_user(self) -> None:
        """Rotate mode: a read ends the user's earlier leases, so one live lease at most."""
        by_role: dict[str, list[str]] = defaultdict(list)
        for lease_id in self.broker.tracked(self.roles):
            if self.broker.lookup(lease_id).status_code == 200:
                by_role[lease_id.split("/")[2]].append(lease_id)
        several = {role: ids for role, ids in by_role.items() if len(ids) > 1}
        if several:
            self.several_live.append(several)
            raise self.fail(f"rotate mode left several live leases of one user: {several}")

    def after_restart(
        self, received: list[Received], started: float, stored: set[str], *, faults: bool = False
    ) -> None:
        """Received leases: tracked, or revoked with a reset; expired ones revoked at start.

        Under Graph `faults` a revocation may be failing and waiting for its retry, so an
        expired lease may still be tracked; never dropped while its password works.
        """
        if faults:
            self.one_live_lease_per_user()
        else:
            self.settle(timeout=5.0)
        tracked = self.broker.tracked(self.roles)
        problems = []
        for cred in received:
            if cred.expire_upper < started and not faults:
                if cred.lease_id in tracked:
                    problems.append(
                        f"{cred.lease_id} expired by {cred.expire_upper:.2f} (start {started:.2f}) "
                        "but is still tracked"
                    )
                elif cred.lease_id in stored:
                    self.expired_while_down += 1
        working: dict[str, list[Received]] = defaultdict(list)
        for cred in received:
            if cred.lease_id in self.dead:
                continue
            if self.signs_in(cred):
                working[cred.upn].append(cred)
                if cred.lease_id not in tracked:
                    problems.append(
                        f"{cred.lease_id} (round {cred.round}) is no longer tracked but its "
                        f"password still signs {cred.upn} in"
                    )
        for upn, creds in working.items():
            if len(creds) > 1:
                problems.append(f"{len(creds)} received passwords of {upn} all sign in")
        if problems:
            raise self.fail("after a restart: " + "; ".join(problems))

    def final(self, received: list[Received]) -> None:
        """Traffic stopped: working passwords belong to live, newest leases; then all end."""
        self.one_live_lease_per_user()
        problems = []
        working: dict[str, list[str]] = defaultdict(list)
        for cred in received:
            if cred.lease_id in self.dead:
                continue
            # Looked up first: with no traffic a lease can only end, so a password that
            # works after its lease was seen gone is a working password without a lease.
            looked = self.broker.lookup(cred.lease_id)
            if not self.signs_in(cred):
                continue
            if looked.status_code != 200:
                # Expired a moment ago: the expiry worker resets it within milliseconds.
                try:
                    _wait(lambda c=cred: not self.signs_in(c), 3.0, "revocation", 0.05)
                except AssertionError:
                    problems.append(
                        f"{cred.lease_id} signs {cred.upn} in, 3s after its lookup answered "
                        f"{looked.status_code} {looked.text.strip()}"
                    )
                continue
            working[cred.upn].append(cred.lease_id)
            # Sent after this one was received: issued after it, so it reset the password.
            newer = [
                c.lease_id for c in received if c.upn == cred.upn and c.sent_at > cred.received_at
            ]
            if newer:
                problems.append(
                    f"{cred.lease_id} signs {cred.upn} in but {newer[0]} was issued after it"
                )
        for upn, ids in working.items():
            if len(ids) > 1:
                problems.append(f"{upn}: {len(ids)} received passwords sign in: {ids}")
        if problems:
            raise self.fail("after traffic stopped: " + "; ".join(problems))

        # Nobody renews any more: every lease reaches its expire time and is revoked.
        left: set[str] = set()

        def all_ended() -> bool:
            left.clear()
            left.update(self.broker.tracked(self.roles))
            return not left

        try:
            _wait(all_ended, MAX_TTL + 10, "every lease ended", interval=0.2)
        except AssertionError:
            raise self.fail(f"leases still tracked {MAX_TTL + 10}s after traffic: {left}") from None
        still = [
            f"{c.lease_id} ({c.upn}, round {c.round})"
            for c in received
            if c.lease_id not in self.dead and self.signs_in(c)
        ]
        if still:
            raise self.fail(f"every lease ended, yet received passwords still sign in: {still}")


def _run_crash_test(emulator: Emulator, broker: Broker, rounds: int, budget: float) -> None:
    seed = int(os.environ.get("ENTRA_BROKER_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    began = time.monotonic()
    broker.start()
    roles = _configure(broker, emulator, rng)
    names = [r.name for r in roles]
    checker = Checker(emulator, broker, names, seed)
    driver = TrafficDriver(broker.url, broker.token, roles, workers=4, seed=seed)
    driver.start()
    downtime = 0.0
    kill_wait = threading.Event()
    try:
        for round_no in range(1, rounds + 1):
            assert time.monotonic() - began < budget, (
                f"over the time budget of {budget}s after {round_no - 1} rounds (seed {seed})"
            )
            driver.round = round_no
            driver.resume()
            kill_wait.wait(rng.uniform(0.05, 1.5))
            broker.kill()
            driver.pause()
            stored = broker.stored_leases()
            if rng.random() < 0.3:
                # Stay down long enough for some leases to expire meanwhile.
                down = rng.uniform(1.0, 4.0)
                downtime += down
                kill_wait.wait(down)
            started = time.time()
            broker.start()
            checker.after_restart(driver.snapshot(), started, stored)
        driver.stop()
        checker.final(driver.snapshot())
    finally:
        driver.stop()
    assert broker.stop() == 0
    logs = "\n".join(broker.logs)
    assert "Traceback" not in logs, logs[-5000:]
    errors = [line for line in logs.splitlines() if "[ERROR]" in line]
    assert not errors, f"error lines in the broker's log (seed {seed}): {errors[:10]}"
    received = driver.snapshot()
    changes = emulator.users()
    for upn in {c.upn for c in received}:
        mine = sum(1 for c in received if c.upn == upn)
        assert changes[upn]["password_changes"] >= mine, (upn, changes[upn], mine)
    pending = logs.count("pending lease found at start")
    print(
        f"\ncrash test: seed {seed}, {rounds} rounds in {time.monotonic() - began:.1f}s "
        f"(down {downtime:.1f}s), {len(received)} credentials received, "
        f"{checker.sign_ins} sign-in checks, {pending} pending leases revoked at start, "
        f"{checker.expired_while_down} leases expired while down, "
        f"{len(checker.several_live)} checks saw several live leases of one user "
        f"{checker.several_live[:3]}; traffic: "
        + ", ".join(f"{k}={v}" for k, v in sorted(driver.stats.items()))
    )
    assert not driver.unexpected, f"unexpected answers (seed {seed}): {driver.unexpected[:10]}"


def _rounds(default: int) -> int:
    return int(os.environ.get("ENTRA_BROKER_CRASH_ROUNDS") or default)


def test_sigkill_under_lease_traffic_loses_no_lease(crash_env: tuple[Emulator, Broker]) -> None:
    rounds = _rounds(QUICK_ROUNDS)
    _run_crash_test(*crash_env, rounds=rounds, budget=max(60.0, rounds * 8.0))


@pytest.mark.slow
def test_sigkill_under_lease_traffic_many_rounds(crash_env: tuple[Emulator, Broker]) -> None:
    rounds = _rounds(SLOW_ROUNDS)
    _run_crash_test(*crash_env, rounds=rounds, budget=rounds * 10.0)


# -- with Graph failing 30 % of calls: no password outlives its lease for long -------------

GRAPH_CALLS = r"^(GET|PATCH|POST|DELETE) /v1\.0/"
# 30 % of Graph calls fail, a third each way: throttled (503 with Retry-After), a server
# error, and a reset that happened but whose answer never came (a dropped connection).
# The emulator gives a call to the first fault whose share it is, hence 0.1/0.9, 0.1/0.8.
GRAPH_FAULTS = [
    {"match": GRAPH_CALLS, "fraction": 0.1, "status": 503, "retry_after": 1},
    {"match": GRAPH_CALLS, "fraction": 0.1 / 0.9, "status": 500},
    {"match": GRAPH_CALLS, "fraction": 0.1 / 0.8, "drop": True, "apply": True},
]
# Under faults a creds read or a synchronous revoke may answer Graph's failure.
FAULT_EXPECTED = {
    "creds": {200, 502, 503},
    "renew": {200, 400},
    "revoke_sync": {204, 502, 503},
    "revoke_async": {202},
    "lookup": {200, 400},
}
# The default run's schedule: retries from 0.2 s up to 2 s, Graph's Retry-After honoured
# for at most 1 s, a Graph operation given up after 2 s (30 s in production), so that
# faults do fail revocations.
SHORT_KNOBS = [
    "--revoke-backoff-base",
    "0.2",
    "--revoke-backoff-max",
    "2",
    "--graph-deadline",
    "2",
    "--graph-max-retry-after",
    "1",
]
SHORT_BOUND = 15.0  # seconds from (lease end or faults stop) to a dead password
PRODUCTION_BOUND = 60.0  # the issue's: every password dead within 60 s of the faults stopping


@contextlib.contextmanager
def _fault_env(tmp_path: Path, knobs: list[str] | None) -> Iterator[tuple[Emulator, Broker]]:
    (tmp_path / "emulator").mkdir()
    (tmp_path / "broker").mkdir()
    emulator = Emulator(tmp_path / "emulator")
    broker = Broker(tmp_path / "broker", knobs)
    try:
        yield emulator, broker
    finally:
        broker.close()
        emulator.close()


@dataclass
class Deaths:
    """When the last lease of each user ended, and when its password stopped signing in."""

    after_end: list[float] = field(default_factory=list)
    after_faults: list[float] = field(default_factory=list)
    # Of those, the leases that ended while the broker was down (killed, not yet serving).
    ended_down: list[float] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"lease end -> password dead: {_spread(self.after_end)} "
            f"({len(self.ended_down)} ended while the broker was down: "
            f"{_spread(self.ended_down)}); "
            f"faults stop -> password dead: {_spread(self.after_faults)}"
        )

    def table(self) -> str:
        """The same as a Markdown table (seconds)."""
        rows = [
            ("lease end -> password dead", self.after_end),
            ("... of leases that ended while the broker was down", self.ended_down),
            ("faults stop -> password dead", self.after_faults),
        ]
        lines = [
            "| measure | n | min s | median s | p90 s | max s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, values in rows:
            n, low, mid, p90, high = _stats(values)
            lines.append(f"| {name} | {n} | {low:.2f} | {mid:.2f} | {p90:.2f} | {high:.2f} |")
        return "\n".join(lines)


def _stats(values: list[float]) -> tuple[int, float, float, float, float]:
    """Count, min, median, p90 and max (NaN when there is no value)."""
    if not values:
        nan = float("nan")
        return 0, nan, nan, nan, nan
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return len(ordered), ordered[0], statistics.median(ordered), p90, ordered[-1]


def _spread(values: list[float]) -> str:
    n, low, mid, p90, high = _stats(values)
    if not n:
        return "no samples"
    return f"n={n} min={low:.2f}s median={mid:.2f}s p90={p90:.2f}s max={high:.2f}s"


def _last_leases(
    broker: Broker, roles: list[RoleSpec], checker: Checker
) -> list[tuple[str, str, str, float]]:
    """One fresh credential per role, read under faults (retried until Graph lets it):
    (lease id, user, password, expire time as the server stored it)."""
    issued = []
    for role in roles:
        body: dict[str, Any] = {}

        def read(role: RoleSpec = role, body: dict[str, Any] = body) -> bool:
            response = broker.request("GET", f"entra/creds/{role.name}")
            assert response.status_code in FAULT_EXPECTED["creds"], response.text
            if response.status_code == 200:
                body.update(response.json())
            return response.status_code == 200

        try:
            _wait(read, 60.0, f"a credential of {role.name} under faults", interval=0.2)
        except AssertionError:
            raise checker.fail(f"no credential of {role.name} within 60s of faults") from None
        looked = broker.lookup(body["lease_id"])
        assert looked.status_code == 200, looked.text
        expires = parse_time(looked.json()["data"]["expire_time"])
        issued.append((body["lease_id"], role.upn, body["data"]["password"], expires))
    return issued


def _run_faults_test(
    emulator: Emulator, broker: Broker, *, waves: int, rounds: int, bound: float
) -> Deaths:
    """Kill -9 cycles under lease traffic with 30 % of Graph calls failing, in waves.

    Each wave: faults on; `rounds` of traffic, each ended by SIGKILL and a restart, with
    the never-forgotten checks after each; then one fresh credential per user, left to
    expire under the faults (with one more kill meanwhile); then the faults stop and
    every received password must stop signing in within `bound` seconds of the later
    of its lease's end and the faults stopping. Returns those delays.
    """
    seed = int(os.environ.get("ENTRA_BROKER_CRASH_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    broker.start()
    roles = _configure(broker, emulator, rng)
    names = [r.name for r in roles]
    checker = Checker(emulator, broker, names, seed)
    driver = TrafficDriver(
        broker.url, broker.token, roles, workers=4, seed=seed, expected=FAULT_EXPECTED
    )
    driver.start()
    deaths = Deaths()
    pause = threading.Event()
    down: list[tuple[float, float]] = []

    def crash() -> None:
        killed = time.time()
        broker.kill()
        if rng.random() < 0.3:
            pause.wait(rng.uniform(1.0, 4.0))  # down while leases expire
        broker.start()
        down.append((killed, time.time()))

    try:
        for wave in range(waves):
            for fault in GRAPH_FAULTS:
                emulator.fault(fault)
            for round_no in range(1, rounds + 1):
                driver.round = wave * rounds + round_no
                driver.resume()
                pause.wait(rng.uniform(0.05, 1.5))
                broker.kill()
                driver.pause()
                stored = broker.stored_leases()
                started = time.time()
                broker.start()
                checker.after_restart(driver.snapshot(), started, stored, faults=True)
            last = _last_leases(broker, roles, checker)
            watch = DeathWatch(emulator, last)
            ends = max(expires for *_, expires in last)
            pause.wait(max(0.0, rng.uniform(0.0, ends - time.time())))
            crash()
            pause.wait(max(0.0, ends - time.time()) + rng.uniform(0.0, 2.0))
            emulator.clear_faults()
            stopped = time.time()
            alive = watch.wait(stopped + bound)
            if alive:
                raise checker.fail(
                    f"passwords still sign in {bound:.0f}s after their lease ended and the "
                    f"faults stopped: {alive}"
                )
            watch.record(deaths, stopped, down)
            checker.after_restart(driver.snapshot(), time.time(), set(), faults=True)
        driver.stop()
    finally:
        driver.stop()
    still = [
        c.lease_id
        for c in driver.snapshot()
        if c.lease_id not in checker.dead and checker.signs_in(c)
    ]
    assert not still, f"received passwords still sign in after every wave (seed {seed}): {still}"
    assert broker.stop() == 0
    logs = "\n".join(broker.logs)
    assert "Traceback" not in logs, logs[-5000:]
    # The one error line faults may cause: a lease past its attempt count, still retried.
    errors = [
        line for line in logs.splitlines() if "[ERROR]" in line and "lease irrevocable" not in line
    ]
    assert not errors, f"error lines in the broker's log (seed {seed}): {errors[:10]}"
    assert not driver.unexpected, f"unexpected answers (seed {seed}): {driver.unexpected[:10]}"
    print(
        f"\ncrash test with Graph faults: seed {seed}, {waves} waves of {rounds} rounds, "
        f"{len(driver.snapshot())} credentials received; {deaths.summary()}; traffic: "
        + ", ".join(f"{k}={v}" for k, v in sorted(driver.stats.items()))
    )
    return deaths


class DeathWatch:
    """Polls each password, from its lease's end on, until it no longer signs in.

    Runs in its own thread (with its own event loop) while the test kills and restarts
    the broker, every 0.2 s per password: a death is seen within that much.
    """

    def __init__(self, emulator: Emulator, last: list[tuple[str, str, str, float]]) -> None:
        self._emulator = emulator
        self._alive = {lease_id: (upn, pw, ends) for lease_id, upn, pw, ends in last}
        self._ends = {lease_id: ends for lease_id, _, _, ends in last}
        self.dead_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="death-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while self._alive and not self._stop.is_set():
                for lease_id, (upn, password, ends) in list(self._alive.items()):
                    if time.time() < ends:
                        continue  # still leased: it must work, nothing to watch yet
                    works = loop.run_until_complete(
                        check_password(
                            self._emulator.base_url,
                            TENANT,
                            CLIENT,
                            upn,
                            password,
                            self._emulator.ca_path,
                        )
                    )
                    if not works:
                        self.dead_at[lease_id] = time.time()
                        del self._alive[lease_id]
                self._stop.wait(0.2)
        finally:
            loop.close()

    def wait(self, deadline: float) -> list[str]:
        """Wait until every password died or `deadline` passed; the ones still alive."""
        self._thread.join(max(0.0, deadline - time.time()))
        self._stop.set()
        self._thread.join(10)
        return sorted(self._alive)

    def record(self, deaths: Deaths, stopped: float, down: list[tuple[float, float]]) -> None:
        for lease_id, dead in self.dead_at.items():
            ends = self._ends[lease_id]
            deaths.after_end.append(max(0.0, dead - ends))
            deaths.after_faults.append(max(0.0, dead - stopped))
            if any(killed <= ends <= serving for killed, serving in down):
                deaths.ended_down.append(max(0.0, dead - ends))


def test_sigkill_with_graph_faults_kills_every_password_soon_after(tmp_path: Path) -> None:
    """Issue 13, point 21: under kill -9 cycles with 30 % Graph faults, no password outlives
    its lease for long once Entra answers again (short knobs; the slow variant below
    runs the production schedule)."""
    with _fault_env(tmp_path, SHORT_KNOBS) as (emulator, broker):
        deaths = _run_faults_test(emulator, broker, waves=1, rounds=3, bound=SHORT_BOUND)
    assert len(deaths.after_end) == USERS


@pytest.mark.slow
def test_sigkill_with_graph_faults_production_schedule(tmp_path: Path) -> None:
    """The same with the production schedule: dead within 60 s of the faults stopping."""
    waves = int(os.environ.get("ENTRA_BROKER_FAULT_WAVES") or 5)
    with _fault_env(tmp_path, None) as (emulator, broker):
        deaths = _run_faults_test(
            emulator, broker, waves=waves, rounds=_rounds(6), bound=PRODUCTION_BOUND
        )
    assert len(deaths.after_end) == USERS * waves


# -- regression: found by the crash test's rotate-mode check ---------------------------------


def _hammer(broker: Broker, op: str, lease_id: str, stop: threading.Event, sent: Any) -> None:
    """Renew (or async-revoke) `lease_id` in a loop until `stop`; `sent` counts answers."""
    with httpx.Client(
        base_url=f"{broker.url}/v1/",
        headers={"X-Vault-Token": broker.token},
        trust_env=False,
        timeout=30,
    ) as client:
        while not stop.is_set():
            if op == "renew":
                body: dict[str, Any] = {"lease_id": lease_id, "increment": 3}
                client.put("sys/leases/renew", json=body)
            else:
                client.put("sys/leases/revoke", json={"lease_id": lease_id, "sync": False})
            sent.release()


def _race_once(emulator: Emulator, broker: Broker, op: str, upn: str) -> str | None:
    """One rotation under a concurrent `op` on the old lease; what went wrong, if anything."""

    def creds() -> dict[str, Any]:
        response = broker.request("GET", "entra/creds/r0")
        assert response.status_code == 200, response.text
        return response.json()

    old = creds()
    stop = threading.Event()
    sent = threading.Semaphore(0)
    threads = [
        threading.Thread(target=_hammer, args=(broker, op, old["lease_id"], stop, sent))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    try:
        assert sent.acquire(timeout=10), "the concurrent client got no answer"
        new = creds()
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    # Keep the newest lease alive well past the old one's end.
    renewed = broker.request(
        "PUT", "sys/leases/renew", json={"lease_id": new["lease_id"], "increment": 30}
    )
    assert renewed.status_code == 200, renewed.text
    revived = old["lease_id"] in broker.tracked(["r0"])
    if revived:
        _wait(lambda: old["lease_id"] not in broker.tracked(["r0"]), 10, "the old lease ended")
    works = emulator.signs_in(upn, new["data"]["password"])
    live = broker.lookup(new["lease_id"]).status_code
    revoked = broker.request(
        "PUT", "sys/leases/revoke", json={"lease_id": new["lease_id"], "sync": True}
    )
    assert revoked.status_code == 204, revoked.text
    if not revived and works:
        return None
    return (
        f"{op}: {old['lease_id']} was superseded by {new['lease_id']}, yet it was still "
        f"tracked once that read answered (revived: {revived}); after it ended, the newest "
        f"lease (lookup {live}) signs {upn} in: {works}"
    )


@pytest.mark.parametrize("op", ["renew", "revoke_async"])
def test_a_superseded_lease_stays_gone_under_concurrent_renewals_and_revocations(
    crash_env: tuple[Emulator, Broker], op: str
) -> None:
    """docs/leases.md: in rotate mode a read ends the user's earlier leases at once, and
    reads of one user are serialized, so the newest lease's password keeps working.

    Up to 30 rotations, each with two clients renewing (or async-revoking) the old lease
    while the new one is read; the window is a storage write, hit within a few tries.
    """
    emulator, broker = crash_env
    broker.start()
    _configure(broker, emulator, random.Random(0))
    upn = "u0@example.test"
    body = {"user_principal_name": upn, "ttl": 2, "max_ttl": 60, "mode": "rotate"}
    assert broker.request("PUT", "entra/roles/r0", json=body).status_code in (200, 204)
    for attempt in range(30):
        problem = _race_once(emulator, broker, op, upn)
        assert problem is None, f"attempt {attempt}: {problem}"
