"""The `entra-broker` and `bao` commands as subprocesses, for tests that run them as users do."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def command() -> list[str]:
    found = BIN / "entra-broker"
    return [str(found)] if found.exists() else [sys.executable, "-m", "mount"]


def bao() -> str:
    found = BIN / "bao"
    return str(found) if found.exists() else (shutil.which("bao") or "bao")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OutputCollected:
    """A subprocess whose output lines a thread collects, so waits on it have deadlines."""

    def __init__(
        self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))


class Server(OutputCollected):
    """`entra-broker` with these arguments, as a subprocess."""

    def __init__(
        self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        super().__init__(command() + args, env, cwd)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"{pattern!r} not printed; output:\n{self.output}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(30)
        self._reader.join(10)
        self.close()
        return code

    def close(self) -> None:
        if self.proc.stdout is not None and not self.proc.stdout.closed:
            self.proc.stdout.close()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)
        server._reader.join(10)
        server.close()


def bao_run(addr: str, token: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BAO_ADDR": addr, "BAO_TOKEN": token, "HOME": str(home)}
    env.pop("VAULT_TOKEN", None)
    return subprocess.run([bao(), *args], capture_output=True, text=True, env=env, timeout=30)
