"""The audit broker behind the HTTP API: devices, pairing of lines, Vault's failure rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mount.audit.device import DeclaredDevice
from mount.build import BrokerOptions, EngineMount, build_core, ensure_root_token
from mount.config.model import ConfigError
from mount.http.app import create_app
from mount.storage.store import MemoryStore
from tests.noop_backend import NoopEngine

ROOT = "s.AuditRootToken0123456789"
AUDIT_FAILED = {"errors": ["1 error occurred:\n\t* internal error\n\n"]}


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class Broker:
    """A core on a shared MemoryStore, restartable, with a noop engine and an HTTP client."""

    def __init__(self, aiohttp_client, store: MemoryStore, engine: NoopEngine) -> None:
        self.aiohttp_client, self.store, self.engine = aiohttp_client, store, engine
        self.client = None
        self.core = None

    async def start(self, declared: tuple[DeclaredDevice, ...] = ()) -> Broker:
        self.core = await build_core(
            BrokerOptions(
                store=self.store,
                engines=[EngineMount("noop/", "noop", self.engine.factory)],
                audit_devices=declared,
            )
        )
        await ensure_root_token(self.core, ROOT)
        self.client = await self.aiohttp_client(create_app(self.core))
        return self

    async def stop(self) -> None:
        await self.client.close()

    async def call(self, method: str, path: str, body: object = None, token: str = ROOT):
        headers = {"X-Vault-Token": token} if token else {}
        response = await self.client.request(method, f"/v1/{path}", json=body, headers=headers)
        text = await response.text()
        return response.status, (json.loads(text) if text else None)

    async def enable(self, path: str, file_path: Path, **options: str):
        body = {"type": "file", "options": {"file_path": str(file_path), **options}}
        return await self.call("PUT", f"sys/audit/{path}", body)


@pytest.fixture
async def broker(aiohttp_client):
    found = await Broker(aiohttp_client, MemoryStore(), NoopEngine()).start()
    yield found
    await found.stop()


async def test_each_call_gets_one_request_and_one_response_line(broker, tmp_path):
    log = tmp_path / "audit" / "file.log"
    assert await broker.enable("file", log) == (204, None)
    assert log.stat().st_mode & 0o777 == 0o600
    status, creds = await broker.call("GET", "noop/creds/a")
    assert status == 200
    status, refused = await broker.call("GET", "noop/creds/nope")
    assert status == 400
    entries = lines(log)
    assert [(e["type"], e["request"]["path"]) for e in entries] == [
        ("request", "noop/creds/a"),
        ("response", "noop/creds/a"),
        ("request", "noop/creds/nope"),
        ("response", "noop/creds/nope"),
    ]
    first, second = entries[1], entries[3]
    assert first["request"]["id"] == creds["request_id"] == entries[0]["request"]["id"]
    assert first["response"]["secret"] == {"lease_id": creds["lease_id"]}
    assert first["response"]["data"]["credential"].startswith("hmac-sha256:")
    assert second["error"] == "unknown role: nope" and "error" not in entries[2]
    status, hashed = await broker.call("PUT", "sys/audit-hash/file", {"input": "cred-1"})
    assert (status, hashed["data"]["hash"]) == (200, first["response"]["data"]["credential"])
    assert hashed["hash"] == hashed["data"]["hash"]
    assert b"cred-1" not in log.read_bytes() and ROOT.encode() not in log.read_bytes()


async def test_no_writable_device_means_a_500_and_nothing_done(broker, tmp_path):
    log = tmp_path / "file.log"
    assert (await broker.enable("file", log))[0] == 204
    log.unlink()
    log.mkdir()  # a directory where the log was: the file cannot be reopened
    status, body = await broker.call("GET", "noop/creds/a")
    assert (status, body) == (500, AUDIT_FAILED)
    assert broker.engine.counter == 0 and broker.engine.issued == []
    assert list(broker.core.leases.all()) == []
    # A second, working device is enough: Vault needs at least one to record.
    assert (await broker.enable("second", tmp_path / "second.log"))[0] == 500
    log.rmdir()
    assert (await broker.enable("second", tmp_path / "second.log"))[0] == 204
    shutil.rmtree(tmp_path / "second.log", ignore_errors=True)
    log.unlink()
    log.mkdir()
    status, _ = await broker.call("GET", "noop/creds/a")
    assert status == 200 and broker.engine.issued == ["cred-1"]
    assert [e["type"] for e in lines(tmp_path / "second.log")] == ["request", "response"]


async def test_refused_requests_are_recorded_with_their_error_and_health_is_not(broker, tmp_path):
    log = tmp_path / "file.log"
    await broker.enable("file", log)
    assert (await broker.call("GET", "auth/token/lookup-self", token="s.wrongtoken"))[0] == 403
    assert (await broker.call("GET", "nosuch/path"))[0] == 404
    assert (await broker.call("GET", "sys/health"))[0] == 200
    entries = lines(log)
    assert [(e["type"], e.get("error")) for e in entries] == [
        ("request", "permission denied"),
        ("request", 'no handler for route "nosuch/path". route entry not found.'),
    ]
    assert entries[0]["request"]["client_token"].startswith("hmac-sha256:")
    assert b"s.wrongtoken" not in log.read_bytes()


async def test_devices_and_their_keys_survive_a_restart_and_disable_stops_writing(broker, tmp_path):
    log = tmp_path / "file.log"
    await broker.enable("file", log, hmac_accessor="false")
    before = (await broker.call("PUT", "sys/audit-hash/file", {"input": "x"}))[1]["hash"]
    await broker.stop()
    await broker.start()
    status, listed = await broker.call("GET", "sys/audit")
    assert status == 200
    assert listed["data"] == {
        "file/": {
            "type": "file",
            "description": "",
            "options": {"file_path": str(log), "hmac_accessor": "false"},
            "local": False,
            "path": "file/",
        }
    }
    assert (await broker.call("PUT", "sys/audit-hash/file", {"input": "x"}))[1]["hash"] == before
    assert (await broker.call("DELETE", "sys/audit/file"))[0] == 204
    size = log.stat().st_size
    assert (await broker.call("GET", "noop/creds/a"))[0] == 200
    assert log.stat().st_size == size
    assert (await broker.call("GET", "sys/audit"))[1]["data"] == {}
    assert (await broker.call("DELETE", "sys/audit/file"))[0] == 204  # gone already: fine


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"options": {"file_path": "/tmp/x"}}, "type is required"),
        ({"type": "syslog", "options": {}}, 'unknown backend type: "syslog"'),
        ({"type": "file", "options": {}}, "file_path is required"),
        ({"type": "file", "options": {"file_path": "/tmp/x", "log_raw": True}}, "log_raw is not"),
        ({"type": "file", "options": {"file_path": "/tmp/x", "k": {"a": 1}}}, "option k: the"),
    ],
)
async def test_bad_enable_requests_are_400s_and_enable_nothing(broker, body, message):
    status, answer = await broker.call("PUT", "sys/audit/bad", body)
    assert status == 400, answer
    assert any(e.startswith(message) for e in answer["errors"]), answer
    assert (await broker.call("GET", "sys/audit"))[1]["data"] == {}


async def test_enabling_or_disabling_a_device_needs_sudo(broker, tmp_path):
    """A file device writes wherever the server may write: Vault guards it with sudo."""
    plain = 'path "sys/audit*" { capabilities = ["create", "read", "update", "delete"] }'
    assert (await broker.call("PUT", "sys/policies/acl/ops", {"policy": plain}))[0] == 204
    sudo = plain.replace('"delete"]', '"delete", "sudo"]')
    assert (await broker.call("PUT", "sys/policies/acl/ops-sudo", {"policy": sudo}))[0] == 204
    status, body = await broker.call("POST", "auth/token/create", {"policies": ["ops"]})
    child = body["auth"]["client_token"]
    status, body = await broker.call("POST", "auth/token/create", {"policies": ["ops-sudo"]})
    admin = body["auth"]["client_token"]
    denied = {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}
    body = {"type": "file", "options": {"file_path": str(tmp_path / "x.log")}}
    assert await broker.call("PUT", "sys/audit/x", body, token=child) == (403, denied)
    assert not (tmp_path / "x.log").exists()
    assert (await broker.call("PUT", "sys/audit/x", body, token=admin))[0] == 204
    assert await broker.call("DELETE", "sys/audit/x", token=child) == (403, denied)
    assert await broker.call("GET", "sys/audit", token=child) == (403, denied)
    assert (await broker.call("GET", "sys/audit", token=admin))[0] == 200
    assert (await broker.call("DELETE", "sys/audit/x", token=admin))[0] == 204


async def test_overlapping_paths_unopenable_files_and_unknown_hash_devices(broker, tmp_path):
    await broker.enable("a/b", tmp_path / "a.log")
    for path in ("a", "a/b/c"):
        assert (await broker.enable(path, tmp_path / "x.log")) == (
            400,
            {"errors": ["path already in use"]},
        )
    status, body = await broker.enable("dir", tmp_path)
    assert status == 400
    assert body["errors"] == [
        f'sanity check failed; unable to open "{tmp_path}" for writing: Is a directory'
    ]
    assert (await broker.call("PUT", "sys/audit-hash/nope", {"input": "x"})) == (
        400,
        {"errors": ['unknown audit backend "nope/"']},
    )
    assert (await broker.call("PUT", "sys/audit-hash/a/b", {"input": ""})) == (
        400,
        {"errors": ['the "input" parameter is empty']},
    )
    assert list((await broker.call("GET", "sys/audit"))[1]["data"]) == ["a/b/"]


async def test_config_declared_devices_are_active_at_start_and_managed_by_the_file(
    aiohttp_client, tmp_path
):
    store, engine = MemoryStore(), NoopEngine()
    log = tmp_path / "declared.log"
    declared = (DeclaredDevice("file", "to-disk", "from config", {"file_path": str(log)}),)
    broker = await Broker(aiohttp_client, store, engine).start(declared)
    assert (await broker.call("GET", "noop/creds/a"))[0] == 200
    assert [e["type"] for e in lines(log)] == ["request", "response"]
    status, body = await broker.call("DELETE", "sys/audit/to-disk")
    assert (status, body) == (
        400,
        {"errors": ["cannot disable configuration-managed audit device"]},
    )
    digest = (await broker.call("PUT", "sys/audit-hash/to-disk", {"input": "x"}))[1]["hash"]
    await broker.enable("api", tmp_path / "api.log")
    await broker.stop()

    # Restarted with the same stanza: same key. An API device declared too: refused.
    await broker.start(declared)
    assert (await broker.call("PUT", "sys/audit-hash/to-disk", {"input": "x"}))[1]["hash"] == digest
    await broker.stop()
    clash = (*declared, DeclaredDevice("file", "api", "", {"file_path": str(tmp_path / "b")}))
    with pytest.raises(ConfigError, match=r"already created by API"):
        await Broker(aiohttp_client, store, engine).start(clash)

    # The stanza removed: the device is gone at the next start.
    await broker.start()
    assert list((await broker.call("GET", "sys/audit"))[1]["data"]) == ["api/"]
    await broker.stop()
