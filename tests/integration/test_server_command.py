"""The `entra-broker` command as a user runs it: dev mode, config mode, start-up errors."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mount.leases.record import LEASE_PREFIX
from mount.storage.barrier import KEY_ENV, Barrier
from mount.storage.store import TinyDBStore
from plugin.emulator import check_password
from tests.bench.targets import lease_record
from tests.server_process import Server, bao_run, command, free_port


def test_dev_mode_serves_a_working_password(servers, tmp_path):
    port = free_port()
    server = Server(["server", "--dev", "--dev-listen-address", f"127.0.0.1:{port}"])
    servers.append(server)
    root = server.wait_for(r"Root Token: (\S+)").group(1)
    emulator = server.wait_for(r"Entra emulator: (https://\S+) \(tenant (\S+), CA (\S+)\)")
    base_url, tenant, ca = emulator.group(1), emulator.group(2), Path(emulator.group(3))
    client_id = server.wait_for(r"EMULATOR_CLIENT_ID='(\S+)'").group(1)

    read = bao_run(
        f"http://127.0.0.1:{port}", root, "read", "-format=json", "entra/creds/alice", home=tmp_path
    )
    assert read.returncode == 0, read.stderr
    body = json.loads(read.stdout)
    assert re.fullmatch(r"entra/creds/alice/[A-Za-z0-9]{24}", body["lease_id"])
    assert body["renewable"] is True and body["lease_duration"] > 0
    data = body["data"]
    assert data["user_principal_name"] == "alice@example.test"
    password = data["password"]
    assert asyncio.run(
        check_password(base_url, tenant, client_id, "alice@example.test", password, ca)
    )

    revoke = bao_run(
        f"http://127.0.0.1:{port}",
        root,
        "lease",
        "revoke",
        "-sync",
        body["lease_id"],
        home=tmp_path,
    )
    assert revoke.returncode == 0 and "Success! Revoked lease" in revoke.stdout
    assert not asyncio.run(
        check_password(base_url, tenant, client_id, "alice@example.test", password, ca)
    )
    assert server.stop() == 0
    assert password not in server.output and root not in server.output.split("Root Token:")[0]


def _write_config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        'storage "tinydb" {\n  path = "data/broker.json"\n}\n'
        'default_lease_ttl = "1h"\nmax_lease_ttl = "24h"\nlog_level = "debug"\n'
    )
    (tmp_path / "data").mkdir()
    return config


def test_config_mode_prints_the_root_token_once_and_can_regenerate(servers, tmp_path):
    port = free_port()
    config = _write_config(tmp_path, port)
    first = Server(["server", "--config", str(config)])
    servers.append(first)
    root = first.wait_for(r"Root Token: (\S+)").group(1)
    assert re.fullmatch(r"s\.[A-Za-z0-9]{24}", root)
    lookup = bao_run(f"http://127.0.0.1:{port}", root, "token", "lookup", home=tmp_path)
    assert lookup.returncode == 0 and "[root]" in lookup.stdout
    assert first.stop() == 0
    assert (tmp_path / "data" / "seal.key").stat().st_mode & 0o077 == 0
    for stored in ("broker.json", "broker.json.leases"):  # configuration; leases and tokens
        assert root.encode() not in (tmp_path / "data" / stored).read_bytes()

    second = Server(["server", "--config", str(config)])
    servers.append(second)
    second.wait_for(r"server started on http://127\.0\.0\.1:\d+")
    assert "Root Token" not in second.output
    again = bao_run(f"http://127.0.0.1:{port}", root, "token", "lookup", home=tmp_path)
    assert again.returncode == 0, again.stderr
    assert second.stop() == 0

    regenerated = subprocess.run(
        command() + ["operator", "generate-root", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert regenerated.returncode == 0, regenerated.stderr
    new_root = re.search(r"Root Token: (\S+)", regenerated.stdout)
    assert new_root and new_root.group(1) != root


def test_an_audit_stanza_records_from_the_first_request(servers, tmp_path):
    port = free_port()
    config = _write_config(tmp_path, port)
    config.write_text(
        config.read_text() + 'audit "file" "to-disk" {\n  options {\n'
        '    file_path = "logs/audit.log"\n  }\n}\n'
    )
    server = Server(["server", "--config", str(config)])
    servers.append(server)
    root = server.wait_for(r"Root Token: (\S+)").group(1)
    lookup = bao_run(f"http://127.0.0.1:{port}", root, "token", "lookup", home=tmp_path)
    assert lookup.returncode == 0, lookup.stderr
    assert server.stop() == 0
    log = tmp_path / "logs" / "audit.log"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["type"], e["request"]["path"]) for e in lines] == [
        ("request", "auth/token/lookup-self"),
        ("response", "auth/token/lookup-self"),
    ]
    assert log.stat().st_mode & 0o777 == 0o600 and root.encode() not in log.read_bytes()


@pytest.mark.parametrize(
    ("config_text", "message"),
    [
        (
            'listener "tcp" {\n  address = "127.0.0.1:1"\n  tls_disable = true\n}\n'
            'storage "tinydb" { path = "b.json" }\n'
            'audit "file" "a" {\n  options {\n    log_raw = "true"\n  }\n}\n',
            'audit "file" "a": file_path is required; log_raw is not supported',
        ),
        (
            'listener "tcp" {\n  address = "127.0.0.1:1"\n}\n'
            'storage "tinydb" { path = "b.json" }\n',
            "tls_cert_file",
        ),
        ('storage "tinydb" { path = "b.json" }\n', "listener"),
        (
            'listener "tcp" {\n  address = "127.0.0.1:1"\n  tls_disable = true\n}\n'
            'storage "tinydb" { path = "b.json" }\ndefault_lease_ttl = "forever"\n',
            'default_lease_ttl: time: invalid duration "forever"',
        ),
    ],
)
def test_bad_config_is_one_sentence_and_exit_1(tmp_path, config_text, message):
    config = tmp_path / "broker.hcl"
    config.write_text(config_text)
    result = subprocess.run(
        command() + ["server", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("Error: ")


def test_port_in_use_is_one_sentence(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = _write_config(tmp_path, port)
        result = subprocess.run(
            command() + ["server", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def _start_once(servers, tmp_path: Path) -> Path:
    """A config whose storage and seal key exist, as after a first start."""
    config = _write_config(tmp_path, free_port())
    first = Server(["server", "--config", str(config)])
    servers.append(first)
    first.wait_for(r"Root Token: (\S+)")
    assert first.stop() == 0
    return config


def _start_fails(config: Path, env: dict[str, str] | None = None) -> str:
    """Start the server expecting a refusal; its standard error, checked for shape."""
    result = subprocess.run(
        command() + ["server", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


def test_a_wrong_seal_key_is_one_sentence(servers, tmp_path):
    config = _start_once(servers, tmp_path)
    other_key = base64.b64encode(bytes(range(32))).decode()
    error = _start_fails(config, {KEY_ENV: other_key})
    assert error == (
        "Error: the seal key does not match the one this storage was created with; "
        f"set {KEY_ENV} or the key file back to the original key"
    )


def test_a_seal_key_file_that_is_not_a_key_is_one_sentence(servers, tmp_path):
    config = _start_once(servers, tmp_path)
    (tmp_path / "data" / "seal.key").write_text("not a key\n")
    error = _start_fails(config)
    assert "seal.key must hold the base64 encoding of exactly 32 bytes" in error


def test_corrupt_storage_is_one_sentence(servers, tmp_path):
    config = _start_once(servers, tmp_path)
    (tmp_path / "data" / "broker.json").write_text("{not json")
    error = _start_fails(config)
    assert "broker.json is corrupt" in error and "restore it from a backup" in error


def test_unreadable_storage_is_one_sentence(tmp_path):
    # The tests may run as root, whom file modes do not stop: a directory where the
    # database file should be is unreadable for everyone. (A directory at `path` itself
    # is the storage directory, as in Vault: it holds broker.db.)
    config = _write_config(tmp_path, free_port())
    config.write_text(config.read_text().replace("data/broker.json", "data/"))
    (tmp_path / "data" / "broker.db").mkdir()
    key = tmp_path / "data" / "seal.key"
    key.write_text(base64.b64encode(bytes(32)).decode())
    key.chmod(0o600)
    error = _start_fails(config)
    assert (
        error
        == f"Error: cannot read storage file {tmp_path / 'data' / 'broker.db'}: Is a directory"
    )


def test_a_missing_tls_certificate_is_one_sentence(tmp_path):
    config = tmp_path / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{free_port()}"\n'
        '  tls_cert_file = "missing.pem"\n  tls_key_file = "missing-key.pem"\n}\n'
        'storage "tinydb" {\n  path = "data/broker.json"\n}\n'
    )
    (tmp_path / "data").mkdir()
    error = _start_fails(config)
    assert error.endswith("key.pem: No such file or directory"), error


def test_a_missing_config_file_is_one_sentence(tmp_path):
    error = _start_fails(tmp_path / "nowhere.hcl")
    assert (
        error
        == f"Error: cannot read config file {tmp_path / 'nowhere.hcl'}: No such file or directory"
    )


def test_missing_seal_key_is_refused_without_making_a_new_one(servers, tmp_path):
    port = free_port()
    config = _write_config(tmp_path, port)
    first = Server(["server", "--config", str(config)])
    servers.append(first)
    first.wait_for(r"Root Token: (\S+)")
    assert first.stop() == 0
    key = tmp_path / "data" / "seal.key"
    key.unlink()
    result = subprocess.run(
        command() + ["server", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "seal key file" in result.stderr and "is missing" in result.stderr
    assert not key.exists()


def test_sigterm_finishes_in_flight_requests(servers, tmp_path):
    import httpx

    from plugin.emulator import EmulatorSettings, ThreadedEmulator

    settings = EmulatorSettings(
        tenant_id="t-graceful",
        client_id="c-graceful",
        client_secret="s-graceful",
        users=["alice@example.test"],
    )
    with ThreadedEmulator(settings, tmp_path / "emu") as emulator:
        port = free_port()
        config = _write_config(tmp_path, port)
        server = Server(["server", "--config", str(config)])
        servers.append(server)
        root = server.wait_for(r"Root Token: (\S+)").group(1)
        url, headers = f"http://127.0.0.1:{port}/v1", {"X-Vault-Token": root}
        with httpx.Client(timeout=30, trust_env=False) as client:
            written = client.put(
                f"{url}/entra/config",
                headers=headers,
                json={
                    "tenant_id": "t-graceful",
                    "client_id": "c-graceful",
                    "client_secret": "s-graceful",
                    "authority_host": emulator.base_url,
                    "graph_endpoint": emulator.base_url,
                    "ca_cert": emulator.ca_path.read_text(),
                },
            )
            assert written.status_code in (200, 204), written.text
            role = client.put(
                f"{url}/entra/roles/alice",
                headers=headers,
                json={"user_principal_name": "alice@example.test"},
            )
            assert role.status_code in (200, 204), role.text
            # Slow down the password reset so the read is in flight when SIGTERM lands.
            fault = httpx.post(
                f"{emulator.base_url}/_emulator/faults",
                json={"match": "^PATCH ", "latency_ms": 1500},
                verify=_trust(emulator),
                trust_env=False,
            )
            assert fault.status_code == 201, fault.text
            results: list[httpx.Response] = []
            reader = threading.Thread(
                target=lambda: results.append(
                    client.get(f"{url}/entra/creds/alice", headers=headers)
                )
            )
            reader.start()
            deadline = time.monotonic() + 10
            while not any("PATCH" in k for k in _calls(emulator)):
                assert time.monotonic() < deadline, "the reset never reached the emulator"
                time.sleep(0.05)
            server.proc.send_signal(signal.SIGTERM)
            reader.join(30)
        assert results and results[0].status_code == 200, results
        lease_id = results[0].json()["lease_id"]
        # The SIGTERM alone ends the process, cleanly, once the answer is out.
        assert server.proc.wait(30) == 0
        assert server.stop() == 0

        again = Server(["server", "--config", str(config)])
        servers.append(again)
        again.wait_for(r"server started on")
        with httpx.Client(timeout=30, trust_env=False) as client:
            found = client.put(
                f"{url}/sys/leases/lookup", headers=headers, json={"lease_id": lease_id}
            )
        assert found.status_code == 200, found.text
        assert again.stop() == 0


def _calls(emulator) -> dict[str, int]:
    import httpx

    response = httpx.get(
        f"{emulator.base_url}/_emulator/calls", verify=_trust(emulator), trust_env=False
    )
    return dict(response.json())


def _trust(emulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(emulator.ca_path))


@pytest.mark.parametrize("position", ["first", "last"])
def test_a_lease_that_cannot_be_restored_stops_the_server(servers, tmp_path, position):
    # The first stored lease is restored before serving, the others in the background
    # while serving: either way the server stops with the storage's one sentence.
    config = _start_once(servers, tmp_path)
    data = tmp_path / "data"
    key = base64.b64decode((data / "seal.key").read_text())
    now = time.time()
    ids = [f"entra/creds/r/lease{n:03d}" for n in range(1, 50)]
    broken = "entra/creds/r/lease000" if position == "first" else "entra/creds/r/lease999"

    async def seed() -> None:
        store = TinyDBStore(data / "broker.json", Barrier(key))
        try:
            await store.put_many(
                {
                    f"sys/{LEASE_PREFIX}{lid}": lease_record(lid, now + 3600, "o", "u@x.test", now)
                    for lid in [*ids, broken]
                }
            )
        finally:
            await store.close()

    asyncio.run(seed())
    stored = json.loads((data / "broker.json").read_text())
    for table in stored.values():
        for doc in table.values():
            if doc.get("k") == f"sys/{LEASE_PREFIX}{broken}":
                doc["v"] = "v1:" + base64.b64encode(bytes(40)).decode()
    (data / "broker.json").write_text(json.dumps(stored))

    error = _start_fails(config)
    assert error == (
        f"Error: cannot decrypt storage entry sys/{LEASE_PREFIX}{broken}: "
        "wrong seal key or corrupted data"
    )
