"""Put in front of hvac's own tests (`-p hvac_shim`): their Vault is our dev server.

hvac's `tests/utils/server_manager.py` starts a `vault server` binary from a config file,
then `sys/init` and `sys/unseal`. Here `ServerManager.start` starts `entra-broker server
-dev` on a free port with a known root token (one server per test class, as theirs), so
the server is initialized and unsealed already, as Vault's dev server is. hvac's files are
not edited: only their entry points in `tests.utils` are replaced, before their test
modules import them. The expected failures (tests/hvac_suite/expected_failures.toml)
become strict xfails, so a listed test that starts passing fails the run too.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

# The Vault version our API follows: OpenBao forked from Vault 1.14, and OpenBao 2.7's
# traffic is our ground truth. hvac's tests ask it to skip tests of other versions.
VAULT_VERSION = "1.14.8"
ROOT_TOKEN = "s.hvacsuiteroottoken0000"
EXPECTED = Path(os.environ["HVAC_SUITE_EXPECTED"])
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _broker_command() -> list[str]:
    found = Path(sys.executable).parent / "entra-broker"
    return [str(found)] if found.exists() else [sys.executable, "-m", "mount"]


class _Broker:
    """One `entra-broker server -dev` subprocess whose output a thread collects."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc = subprocess.Popen(
            _broker_command()
            + ["server", "-dev", "-dev-no-emulator"]
            + [f"-dev-listen-address=127.0.0.1:{self.port}", f"-dev-root-token-id={ROOT_TOKEN}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not any(line.startswith("Root Token:") for line in list(self.lines)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("entra-broker dev server did not start:\n" + self.output)
            time.sleep(0.05)

    @property
    def unseal_key(self) -> str:
        """The dev server's seal key, from its banner (`Unseal Key: ...`), as Vault's."""
        for line in self.lines:
            if line.startswith("Unseal Key:"):
                return line.split(":", 1)[1].strip()
        raise RuntimeError("the dev server printed no unseal key:\n" + self.output)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _install() -> None:
    import tests.utils as utils  # hvac's, from the sdist root on sys.path

    utils.get_vault_version_string = lambda: VAULT_VERSION
    from tests.utils import server_manager

    manager_class: Any = server_manager.ServerManager

    def start(self: Any) -> None:
        broker = _Broker()
        self._brokers = [*getattr(self, "_brokers", []), broker]
        self.active_config_paths = None
        self.client = utils.create_client(url=broker.url)

    def stop(self: Any) -> None:
        self.client = None
        for broker in getattr(self, "_brokers", []):
            broker.stop()
        self._brokers = []

    def initialize(self: Any) -> None:
        # A dev server is initialized at start, with the root token it was given; its one
        # seal key (threshold 1) stands for Vault's key shares.
        self.root_token = self.client.token = ROOT_TOKEN
        self.keys = [broker.unseal_key for broker in getattr(self, "_brokers", [])][:1]

    def unseal(self: Any) -> None:
        # A dev server starts unsealed; after a test sealed it, its key unseals it.
        for url in self.get_active_vault_addresses():
            client = utils.create_client(url=url)
            if client.sys.is_sealed():
                client.sys.submit_unseal_keys(self.keys)

    def get_active_vault_addresses(self: Any) -> list[str]:
        return [broker.url for broker in getattr(self, "_brokers", [])]

    manager_class.start = start
    manager_class.stop = stop
    manager_class.initialize = initialize
    manager_class.unseal = unseal
    manager_class.get_active_vault_addresses = get_active_vault_addresses


_install()


def _expected() -> dict[str, str]:
    data = tomllib.loads(EXPECTED.read_text())
    found: dict[str, str] = {}
    for group in ("unsupported", "pending"):
        for entry in data.get(group, []):
            found[entry["id"]] = f"{group}: {entry['reason']}"
    return found


REPORT = Path(os.environ["HVAC_SUITE_REPORT"])
_outcomes: dict[str, str] = {}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    expected = _expected()
    for item in items:
        reason = expected.get(item.nodeid)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
        _outcomes[item.nodeid] = "not run"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """One outcome per test: passed, failed, skipped or xfailed (a strict xpass fails)."""
    if hasattr(report, "wasxfail") and report.skipped:
        outcome = "xfailed"
    elif report.failed:
        outcome = "failed"
    elif report.skipped:
        outcome = "skipped"
    elif report.when == "call":
        outcome = "passed"
    else:
        return
    if _outcomes.get(report.nodeid) != "failed":
        _outcomes[report.nodeid] = outcome


def pytest_sessionfinish(session: pytest.Session) -> None:
    REPORT.write_text(json.dumps(_outcomes, indent=1, sort_keys=True))
