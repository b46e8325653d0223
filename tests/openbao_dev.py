"""A real `bao server -dev` with our plugin in its plugin directory, for tests.

The launcher is a shell script in the plugin directory that execs this interpreter
with `-m goplugin.entra` (OpenBao checks the script's sha256 and nothing else).
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.waiting import wait_until_sync

ROOT_TOKEN = "root"
LAUNCHER = "entra-plugin"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_launcher(plugin_dir: Path, name: str = LAUNCHER) -> Path:
    plugin_dir.mkdir(parents=True, exist_ok=True)
    path = plugin_dir / name
    path.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m goplugin.entra "$@"\n')
    path.chmod(0o755)
    return path


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def plugin_pids(bao_pid: int) -> list[int]:
    pids = []
    for child in children_of(bao_pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"goplugin.entra" in cmdline:
            pids.append(child)
    return pids


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class DevServer:
    """One `bao server -dev` process with `plugin_dir` as its plugin directory."""

    home: Path
    plugin_dir: Path
    binary: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # More `bao server` arguments, such as `-config=<file>` beside -dev.
    extra: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("VAULT_", "BAO_")) and not k.lower().endswith("_proxy")
        }
        env.update(
            {"HOME": str(self.home), "BAO_ADDR": self.url, "BAO_TOKEN": ROOT_TOKEN, "NO_PROXY": "*"}
        )
        return env

    def start(self) -> DevServer:
        self.home.mkdir(parents=True, exist_ok=True)
        log = (self.home / "bao-server.log").open("wb")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "server",
                "-dev",
                f"-dev-root-token-id={ROOT_TOKEN}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
                f"-dev-plugin-dir={self.plugin_dir}",
                "-dev-plugin-init=false",
                *self.extra,
            ],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until_sync(self._healthy, START_TIMEOUT, interval=0.1)
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"bao server exited: {self.log()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/v1/sys/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return (self.home / "bao-server.log").read_text(errors="replace")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cli(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        done = self.cli(*args)
        assert done.returncode == 0, f"bao {' '.join(args)}: {done.stderr}"
        return done.stdout

    def register(self, launcher: Path, name: str = "entra") -> None:
        self.ok(
            "plugin",
            "register",
            f"-sha256={sha256_of(launcher)}",
            f"-command={launcher.name}",
            "secret",
            name,
        )

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def wait_gone(pids: list[int], timeout: float = 10.0) -> float:
    start = time.monotonic()
    wait_until_sync(lambda: not any(alive(p) for p in pids), timeout, interval=0.1)
    return time.monotonic() - start
