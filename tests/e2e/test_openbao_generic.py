"""`goplugin.serve` hosts any mount.sdk backend: a small one (tests/e2e/openbao_test_plugin.py)
inside a real OpenBao, its storage through the broker, its lease revoked through it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import bao_binary
from tests.openbao_dev import DevServer, sha256_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    root = tmp_path_factory.mktemp("openbao-generic")
    plugins = root / "plugins"
    plugins.mkdir()
    launcher = plugins / "counter-plugin"
    launcher.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" '
        '-m tests.e2e.openbao_test_plugin "$@"\n'
    )
    launcher.chmod(0o755)
    server = DevServer(root / "home", plugins, bao_binary()).start()
    try:
        server.ok(
            "plugin",
            "register",
            f"-sha256={sha256_of(launcher)}",
            "-command=counter-plugin",
            "secret",
            "counter",
        )
        server.ok("secrets", "enable", "-path=t", "counter")
        yield server
    finally:
        server.stop()


def test_storage_through_the_broker(openbao: DevServer) -> None:
    openbao.ok("write", "t/kv/a", "value=one")
    openbao.ok("write", "t/kv/b", "value=two")
    read = json.loads(openbao.ok("read", "-format=json", "t/kv/a"))
    assert read["data"] == {"value": "one"}
    assert json.loads(openbao.ok("list", "-format=json", "t/kv")) == ["a", "b"]
    openbao.ok("delete", "t/kv/a")
    assert openbao.cli("read", "t/kv/a").returncode == 2  # 404: gone
    assert json.loads(openbao.ok("list", "-format=json", "t/kv")) == ["b"]


def test_a_lease_is_renewed_and_revoked_through_the_backend(openbao: DevServer) -> None:
    body = json.loads(openbao.ok("read", "-format=json", "t/lease/x"))
    assert body["lease_duration"] == 300 and body["lease_id"].startswith("t/lease/x/")
    renewed = json.loads(
        openbao.ok("lease", "renew", "-format=json", "-increment=8m", body["lease_id"])
    )
    assert renewed["lease_duration"] == 480
    openbao.ok("lease", "revoke", "-sync", body["lease_id"])
    revoked = json.loads(openbao.ok("read", "-format=json", "t/revoked"))
    assert revoked["data"]["credentials"] == [body["data"]["credential"]]
    info = openbao.ok("plugin", "info", "-version=v1.0.0", "secret", "counter")
    assert "counter-plugin" in info
