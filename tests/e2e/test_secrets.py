"""No secret leaks: not into log records (even at DEBUG), not into the storage file.

Secrets here: the application's client secret, every issued password, the root token, a
child token, and a wrong token a client sent. The storage file holds sealed values only,
so not even the user principal names may appear in it in clear.
"""

from __future__ import annotations

import logging
import secrets
import string
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tests.broker_thread
from mount.logging_setup import record_fields
from tests.broker_thread import BrokerThread
from tests.e2e.conftest import ALICE, BOB, CAROL, SECRET, Api, Setup, Tenant, parse_time
from tests.waiting import wait_until_sync


def distinctive_token() -> str:
    alphabet = string.ascii_letters + string.digits
    return "s." + "".join(secrets.choice(alphabet) for _ in range(24))


def record_texts(record: logging.LogRecord) -> Iterator[str]:
    """Everything a handler could print for a record."""
    yield str(record.msg)
    try:
        yield record.getMessage()
    except Exception:
        pass
    yield repr(record.args)
    yield repr(record_fields(record))  # extra= fields, which both log formats print
    if record.exc_info:
        yield logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        yield record.exc_text
    if record.stack_info:
        yield record.stack_info


@pytest.fixture
def root_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """A random root token instead of `root`, so a leak of it can be told from the word."""
    token = distinctive_token()
    monkeypatch.setattr(tests.broker_thread, "ROOT_TOKEN", token)
    return token


def test_no_secret_in_logs_or_storage(
    caplog: pytest.LogCaptureFixture, tenant: Tenant, tmp_path: Path, root_token: str
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = BrokerThread(tmp_path / "sealed").start()
    try:
        api = Api(broker.url, token=root_token)
        setup = Setup(api, tenant)
        assert api.request("GET", "auth/token/lookup-self").json()["data"]["id"] == root_token

        # A refused config write names the problem, never the secret it was given.
        wrong_secret = "Wr0ng~" + distinctive_token()
        refused = api.request(
            "PUT", "entra/config", json=setup.config_data(client_secret=wrong_secret)
        )
        assert refused.status_code == 400
        setup.config()
        setup.role("alice", ttl="1h", max_ttl="2h")
        setup.role("bob", ttl="2s", max_ttl="1m")
        setup.role("carol", ttl="1h")

        alice = setup.creds("alice")
        bob = setup.creds("bob")
        carol = setup.creds("carol")
        passwords = [s["data"]["password"] for s in (alice, bob, carol)]
        assert tenant.signs_in(ALICE, passwords[0])

        renewed = api.request(
            "PUT", "sys/leases/renew", json={"lease_id": alice["lease_id"], "increment": "30m"}
        )
        assert renewed.status_code == 200

        created = api.request("PUT", "auth/token/create", json={"policies": ["app"], "ttl": "5m"})
        child = created.json()["auth"]["client_token"]
        assert api.request("GET", "auth/token/lookup-self", token=child).status_code == 200
        assert api.request("PUT", "auth/token/renew-self", token=child).status_code == 200
        wrong_token = distinctive_token()
        assert api.request("GET", "entra/creds/alice", token=wrong_token).status_code == 403

        revoked = api.request("PUT", "sys/leases/revoke", json={"lease_id": alice["lease_id"]})
        assert revoked.status_code == 204
        assert not tenant.signs_in(ALICE, passwords[0])
        expire = parse_time(setup.lookup(bob["lease_id"]).json()["data"]["expire_time"])
        wait_until_sync(lambda: not tenant.signs_in(BOB, passwords[1]), timeout=10)
        assert time.time() > expire
        setup.wait_leases_forgotten("entra/creds/bob")
    finally:
        broker.stop()

    leaks = {
        "client secret": SECRET,
        "rejected client secret": wrong_secret,
        "root token": root_token,
        "child token": child,
        "wrong token": wrong_token,
        **{f"password {i}": p for i, p in enumerate(passwords)},
    }
    assert len(caplog.records) > 20, "the broker logged (almost) nothing: is capture working?"
    assert any(r.threadName == "broker" for r in caplog.records)
    for record in caplog.records:
        for text in record_texts(record):
            for what, value in leaks.items():
                assert value not in text, f"{what} in a {record.levelname} record of {record.name}"
    for what, value in leaks.items():
        assert value not in caplog.text, what

    raw = broker.storage_bytes()
    assert b"expire/id/entra/creds/carol/" in raw  # the files are the broker's, with leases in them
    in_clear = {**leaks, "upn alice": ALICE, "upn bob": BOB, "upn carol": CAROL}
    for what, value in in_clear.items():
        assert value.encode() not in raw, f"{what} is in the storage file in clear"
    for stray in broker.storage_file.parent.iterdir():
        if stray not in broker.storage_files and stray.is_file():
            data = stray.read_bytes()
            for what, value in in_clear.items():
                assert value.encode() not in data, f"{what} is in {stray.name}"
