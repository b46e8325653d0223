"""Client traffic for the crash test: creds reads, renewals and revocations from threads.

A `TrafficDriver` runs a few worker threads against a live broker, each doing random
`GET entra/creds/<role>`, `PUT sys/leases/renew`, `PUT sys/leases/revoke` (sync and
async) and `PUT sys/leases/lookup`. It records every credential a client **received**
(a 200 with a lease id and a password): those are the ones whose fate the crash test
checks. For each of them it also keeps an upper bound of the lease's expire time, from
the role's TTL and from every renewal that was sent (answered or not: a renewal may
have been stored by a server that died before answering).

The broker is killed under the workers' feet, so transport errors (refused connections,
reset connections) are expected and only counted. Any HTTP answer outside the ones the
API documents for an operation is recorded in `unexpected`.

`pause()` parks every worker between two requests (so the test can restart the broker
and inspect it with no traffic running), `resume()` lets them go on, `stop()` ends them.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["Received", "RoleSpec", "TrafficDriver"]

REQUEST_TIMEOUT = 10.0
# The answers each operation may give while the broker is up (anything else is recorded).
EXPECTED = {
    "creds": {200},
    "renew": {200, 400},
    "revoke_sync": {204},
    "revoke_async": {202},
    "lookup": {200, 400},
}


@dataclass(frozen=True)
class RoleSpec:
    name: str
    upn: str
    ttl: int
    max_ttl: int


@dataclass
class Received:
    """A credential a client received, and what the client knows about its lease."""

    seq: int
    lease_id: str
    role: str
    upn: str
    password: str = field(repr=False)
    # The request was sent at `sent_at` and answered at `received_at` (the lease was
    # issued in between): a credential sent after another was received is newer.
    sent_at: float
    received_at: float
    round: int
    # No later than this can the lease still be alive (the server's clock is ours).
    expire_upper: float
    # Latest possible end: issue time + max_ttl (issue time <= received_at).
    max_end: float


class TrafficDriver:
    """Worker threads sending random lease traffic to `url` with `token`."""

    def __init__(
        self,
        url: str,
        token: str,
        roles: list[RoleSpec],
        *,
        workers: int = 4,
        seed: int = 0,
        pace: float = 0.02,
        expected: dict[str, set[int]] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.expected = expected or EXPECTED
        self.token = token
        self.roles = {r.name: r for r in roles}
        self.round = 0
        self.received: list[Received] = []
        self.stats: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self._workers = workers
        self._pace = pace
        self._seed = seed
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._paused = True
        self._parked = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    # -- control, from the test's thread -------------------------------------------

    def start(self) -> None:
        """Start the workers, parked: call resume() to send traffic."""
        for index in range(self._workers):
            thread = threading.Thread(
                target=self._run, args=(index,), name=f"crash-traffic-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._wait_parked(10.0)

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def pause(self, timeout: float = 30.0) -> None:
        """Park every worker after its current request; fails after `timeout`."""
        with self._cond:
            self._paused = True
        self._wait_parked(timeout)

    def stop(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        assert not alive, f"traffic workers still running after {timeout}s: {alive}"
        self.raise_errors()

    def raise_errors(self) -> None:
        if self._errors:
            raise AssertionError(f"a traffic worker crashed: {self._errors[0]!r}")

    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def _wait_parked(self, timeout: float) -> None:
        with self._cond:
            parked = self._cond.wait_for(
                lambda: self._parked + len(self._errors) >= self._workers, timeout
            )
        self.raise_errors()
        assert parked, f"traffic workers did not pause within {timeout}s"

    # -- the workers ------------------------------------------------------------------

    def _gate(self) -> bool:
        """Wait while paused; False when stopping."""
        with self._cond:
            if self._paused and not self._stopping:
                self._parked += 1
                self._cond.notify_all()
                self._cond.wait_for(lambda: not self._paused or self._stopping)
                self._parked -= 1
            return not self._stopping

    def _run(self, index: int) -> None:
        rng = random.Random(self._seed * 1000 + index)
        headers = {"X-Vault-Token": self.token}
        try:
            with httpx.Client(
                base_url=f"{self.url}/v1/",
                headers=headers,
                timeout=REQUEST_TIMEOUT,
                trust_env=False,
            ) as client:
                while self._gate():
                    try:
                        self._one(client, rng)
                    except httpx.TransportError:
                        # The broker died (or is down) under this request: expected.
                        self._count("transport_error")
                    with self._cond:
                        if self._stopping:
                            break
                        if self._pace > 0 and not self._paused:
                            self._cond.wait(rng.uniform(0, self._pace))
        except BaseException as exc:
            with self._cond:
                self._errors.append(exc)
                self._cond.notify_all()

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _check(self, op: str, response: httpx.Response) -> None:
        self._count(f"{op} {response.status_code}")
        if response.status_code not in self.expected[op]:
            with self._lock:
                self.unexpected.append(f"{op} -> {response.status_code} {response.text[:300]}")

    def _pick(self, rng: random.Random, role: str) -> Received | None:
        """A lease of `role` a client holds: mostly the newest ones, sometimes older."""
        with self._lock:
            mine = [r for r in self.received[-200:] if r.role == role]
        if not mine:
            return None
        if rng.random() < 0.7:
            return mine[-1]
        return rng.choice(mine[-10:])

    def _one(self, client: httpx.Client, rng: random.Random) -> None:
        role = self.roles[rng.choice(sorted(self.roles))]
        op = rng.choices(
            ["creds", "renew", "revoke_sync", "revoke_async", "lookup"],
            weights=[40, 30, 10, 10, 10],
        )[0]
        if op == "creds":
            self._creds(client, role)
            return
        held = self._pick(rng, role.name)
        if held is None:
            self._creds(client, role)
            return
        if op == "renew":
            increment = rng.choice([0, 0, 1, 2, 3, 5, 8])
            effective = increment if increment > 0 else role.ttl
            try:
                response = client.put(
                    "sys/leases/renew", json={"lease_id": held.lease_id, "increment": increment}
                )
            finally:
                # Answered or not, the server may have stored it: widen the upper bound.
                with self._lock:
                    end = time.time() + effective + 1
                    held.expire_upper = min(max(held.expire_upper, end), held.max_end)
            self._check(op, response)
        elif op in ("revoke_sync", "revoke_async"):
            response = client.put(
                "sys/leases/revoke",
                json={"lease_id": held.lease_id, "sync": op == "revoke_sync"},
            )
            self._check(op, response)
        else:
            response = client.put("sys/leases/lookup", json={"lease_id": held.lease_id})
            self._check(op, response)

    def _creds(self, client: httpx.Client, role: RoleSpec) -> None:
        sent = time.time()
        response = client.get(f"entra/creds/{role.name}")
        self._check("creds", response)
        if response.status_code != 200:
            return
        body: dict[str, Any] = response.json()
        data = body["data"]
        now = time.time()
        with self._lock:
            self.received.append(
                Received(
                    seq=len(self.received),
                    lease_id=body["lease_id"],
                    role=role.name,
                    upn=data["user_principal_name"],
                    password=data["password"],
                    sent_at=sent,
                    received_at=now,
                    round=self.round,
                    expire_upper=now + min(role.ttl, role.max_ttl) + 1,
                    max_end=now + role.max_ttl + 1,
                )
            )
