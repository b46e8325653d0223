"""The audit log, driven by the real `bao` CLI and hvac against the whole broker.

The log must hold one request and one response line per call (matched by request id), no
secret in clear anywhere (the client secret, every issued password, every token and
accessor), digests that `sys/audit-hash` reproduces; with no writable device a request
fails with a 500 before anything is done (no password reset at the tenant).
"""

from __future__ import annotations

import json
import secrets
import string
from collections import defaultdict
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import pytest

import tests.broker_thread
from mount.audit.device import DeclaredDevice
from tests.broker_thread import BrokerThread
from tests.e2e.conftest import ALICE, SECRET, Api, Bao, Setup, Tenant, bao_binary

AUDIT_FAILED = ["1 error occurred:\n\t* internal error\n\n"]


def distinctive_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "s." + "".join(secrets.choice(alphabet) for _ in range(24))


@pytest.fixture
def root_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """A random root token instead of `root`, so its absence from the log means something."""
    token = distinctive_token()
    monkeypatch.setattr(tests.broker_thread, "ROOT_TOKEN", token)
    return token


def entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def ok(run: Any) -> Any:
    assert run.code == 0, f"exit {run.code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


def test_every_call_is_recorded_once_each_way_and_nothing_in_clear(
    tenant: Tenant, tmp_path: Path, root_token: str
) -> None:
    log = tmp_path / "audit" / "audit.log"
    with BrokerThread(tmp_path / "broker") as broker:
        bao = Bao(broker.url, tmp_path, bao_binary(), token=root_token)
        run = ok(bao("audit", "enable", "file", f"file_path={log}"))
        assert run.stdout.strip() == "Success! Enabled the file audit device at: file/"
        listed = ok(bao("audit", "list", "-detailed")).stdout
        assert "file/" in listed and f"file_path={log}" in listed

        client = hvac.Client(url=broker.url, token=root_token)
        setup = Setup(Api(broker.url, token=root_token), tenant)
        setup.config()  # carries the client secret
        setup.role("alice", ttl="1h", max_ttl="2h")
        creds = client.read("entra/creds/alice")
        client.sys.renew_lease(creds["lease_id"], increment=60)
        created = client.auth.token.create(policies=["default"], ttl="1h")["auth"]
        child = hvac.Client(url=broker.url, token=created["client_token"])
        assert child.auth.token.lookup_self()["data"]["accessor"] == created["accessor"]
        client.sys.revoke_lease(creds["lease_id"])
        again = json.loads(ok(bao("read", "-format=json", "entra/creds/alice")).stdout)
        root_accessor = client.auth.token.lookup_self()["data"]["accessor"]
        recorded = log.read_bytes()

        # One request and one response line per call, the request first, by request id.
        calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for entry in entries(log):
            calls[entry["request"]["id"]].append(entry)
        assert [[e["type"] for e in pair] for pair in calls.values()] == [
            ["request", "response"]
        ] * len(calls)
        assert [pair[0]["request"]["path"] for pair in calls.values()] == [
            "sys/audit",
            "entra/config",
            "entra/roles/alice",
            "entra/creds/alice",
            "sys/leases/renew",
            "auth/token/create",
            "auth/token/lookup-self",
            "sys/leases/revoke",
            "entra/creds/alice",
            "auth/token/lookup-self",
        ]
        assert again["request_id"] in calls and creds["request_id"] in calls

        # Nothing in clear: the client secret, both passwords, every token and accessor.
        passwords = [creds["data"]["password"], again["data"]["password"]]
        tokens = [root_token, root_accessor, created["client_token"], created["accessor"]]
        for secret in [SECRET, *passwords, *tokens]:
            assert secret.encode() not in recorded, "a secret is in the audit log"

        # sys/audit-hash reproduces the digests found in the log.
        def digest(value: str) -> str:
            return client.sys.calculate_hash("file", value)["data"]["hash"]

        config_request = next(
            p[0] for p in calls.values() if p[0]["request"]["path"] == "entra/config"
        )
        creds_pair = calls[creds["request_id"]]
        assert config_request["request"]["data"]["client_secret"] == digest(SECRET)
        assert creds_pair[0]["auth"]["client_token"] == digest(root_token)
        assert creds_pair[0]["request"]["client_token_accessor"] == digest(root_accessor)
        assert creds_pair[1]["response"]["data"]["password"] == digest(passwords[0])
        assert creds_pair[1]["response"]["secret"] == {"lease_id": creds["lease_id"]}
        (token_pair,) = [p for p in calls.values() if p[0]["request"]["path"].endswith("create")]
        issued = token_pair[1]["response"]["auth"]
        assert issued["client_token"] == digest(created["client_token"])
        assert issued["accessor"] == digest(created["accessor"])


def test_an_unwritable_audit_file_fails_requests_and_nothing_happens(
    tenant: Tenant, tmp_path: Path, broker: BrokerThread, client: hvac.Client, bao: Bao
) -> None:
    log = tmp_path / "audit.log"
    client.sys.enable_audit_device("file", options={"file_path": str(log)})
    setup = Setup(Api(broker.url), tenant)
    setup.config()
    setup.role("alice", ttl="1h")
    changes = tenant.password_changes(ALICE)

    log.unlink()
    log.mkdir()  # a directory where the log was: no line can be written
    with pytest.raises(hvac.exceptions.InternalServerError) as failed:
        client.read("entra/creds/alice")
    assert failed.value.errors == AUDIT_FAILED
    run = bao("read", "entra/creds/alice")
    assert run.code == 2 and "Code: 500. Errors:" in run.stderr and "internal error" in run.stderr
    assert tenant.password_changes(ALICE) == changes, "a password was reset unrecorded"

    log.rmdir()  # writable again: requests go through, and no lease was left behind
    assert setup.lease_keys("entra/creds/alice") == []
    assert [e["request"]["path"] for e in entries(log)] == [
        "sys/leases/lookup/entra/creds/alice/"
    ] * 2


def test_a_declared_device_is_active_at_start_and_api_devices_can_be_disabled(
    tmp_path: Path,
) -> None:
    declared_log, extra_log = tmp_path / "declared.log", tmp_path / "extra.log"
    device = DeclaredDevice("file", "declared", "from config", {"file_path": str(declared_log)})
    with BrokerThread(tmp_path / "broker", audit_devices=(device,)) as broker:
        client = hvac.Client(url=broker.url, token=tests.broker_thread.ROOT_TOKEN)
        listed = client.sys.list_enabled_audit_devices()["data"]
        assert listed["declared/"]["description"] == "from config"
        assert [e["type"] for e in entries(declared_log)] == ["request", "response"]

        bao = Bao(broker.url, tmp_path, bao_binary())
        refused = bao("audit", "disable", "declared/")
        assert refused.code == 2
        assert "cannot disable configuration-managed audit device" in refused.stderr

        ok(bao("audit", "enable", "-path=extra", "file", f"file_path={extra_log}"))
        client.sys.list_enabled_audit_devices()
        assert len(entries(extra_log)) == 2
        run = ok(bao("audit", "disable", "extra/"))
        assert run.stdout.strip() == "Success! Disabled audit device (if it was enabled) at: extra/"
        size = extra_log.stat().st_size
        client.sys.list_enabled_audit_devices()
        assert extra_log.stat().st_size == size, "a disabled device still writes"
        assert "extra/" not in ok(bao("audit", "list")).stdout
