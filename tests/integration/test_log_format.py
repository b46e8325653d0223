"""`entra-broker server --log-format json`: every log line is JSON, no secret in any of them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time

import httpx

from tests.server_process import command, free_port


def _read_lines(stream, into: list[str]) -> None:
    for line in stream:
        into.append(line.rstrip("\n"))


def _wait_for(lines: list[str], pattern: str, proc: subprocess.Popen, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(lines):
            match = re.search(pattern, line)
            if match:
                return match
        assert proc.poll() is None, "the server exited early"
        time.sleep(0.05)
    raise AssertionError(f"{pattern!r} not printed")


def test_json_log_lines_carry_lease_events_and_no_secret():
    port = free_port()
    proc = subprocess.Popen(
        [*command(), "server", "--dev", "--dev-listen-address", f"127.0.0.1:{port}"]
        + ["--log-format", "json", "--log-level", "debug"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    out: list[str] = []
    err: list[str] = []
    readers = [
        threading.Thread(target=_read_lines, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_read_lines, args=(proc.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        root = _wait_for(out, r"Root Token: (\S+)", proc).group(1)
        headers = {"X-Vault-Token": root}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/v1/", trust_env=False) as client:
            issued = client.get("entra/creds/alice", headers=headers, timeout=30)
            assert issued.status_code == 200, issued.text
            lease_id, password = issued.json()["lease_id"], issued.json()["data"]["password"]
            renew = client.put("sys/leases/renew", json={"lease_id": lease_id}, headers=headers)
            assert renew.status_code == 200
            revoke = client.put("sys/leases/revoke", json={"lease_id": lease_id}, headers=headers)
            assert revoke.status_code == 204
        _wait_for(err, r'"event": "revoked"', proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        for reader in readers:
            reader.join(10)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    assert err, "the server logged nothing"
    logged = [json.loads(line) for line in err]  # every line is one JSON object
    for line in logged:
        assert {"@timestamp", "@level", "@module", "@message"} <= set(line), line
    events = {line["event"]: line for line in logged if line.get("lease_id") == lease_id}
    assert {"issued", "renewed", "revoked"} <= set(events)
    for event in events.values():
        assert event["role"] == "alice" and event["mount"] == "entra/"
        assert re.fullmatch(r"[A-Za-z0-9.]+", event["accessor"]), event
        assert event["accessor"] != root
    text = "\n".join(err)
    assert password not in text and root not in text
    assert not [key for line in logged for key in line if re.search("password|secret", key)]
