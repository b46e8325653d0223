"""Log formats: JSON lines in hclog's shape, and extra fields in standard lines."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest

from mount.logging_setup import JsonFormatter, StandardFormatter, setup_logging


def record(msg: str = "lease issued", level: int = logging.INFO, **extra) -> logging.LogRecord:
    made = logging.LogRecord("mount.leases.manager", level, __file__, 1, msg, None, None)
    made.__dict__.update(extra)
    return made


def test_json_lines_carry_hclog_keys_then_the_event_fields():
    line = JsonFormatter().format(
        record(event="issued", lease_id="entra/creds/alice/x", role="alice", ttl=60)
    )
    body = json.loads(line)
    assert list(body)[:4] == ["@timestamp", "@level", "@module", "@message"]
    assert body["@level"] == "info" and body["@module"] == "mount.leases.manager"
    assert body["@message"] == "lease issued"
    assert body["@timestamp"].endswith("+00:00")
    assert body["lease_id"] == "entra/creds/alice/x" and body["ttl"] == 60
    assert "\n" not in line


def test_json_levels_use_hclog_names_and_exceptions_stay_on_one_line():
    assert json.loads(JsonFormatter().format(record(level=logging.WARNING)))["@level"] == "warn"
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = record("internal error", logging.ERROR)
        failed.exc_info = sys.exc_info()
    line = JsonFormatter().format(failed)
    assert "\n" not in line
    assert "RuntimeError: boom" in json.loads(line)["exception"]


def test_standard_lines_append_fields_as_key_value():
    text = StandardFormatter().format(
        record(event="revoke_retry", lease_id="entra/creds/a/x", accessor="", error="Graph 503")
    )
    assert text.endswith(
        "mount.leases.manager: lease issued event=revoke_retry lease_id=entra/creds/a/x "
        'accessor="" error="Graph 503"'
    )


@pytest.mark.parametrize("log_format", ["standard", "json"])
def test_setup_logging_writes_the_chosen_format(log_format):
    stream = io.StringIO()
    root, httpx_logger = logging.getLogger(), logging.getLogger("httpx")
    saved = (root.handlers[:], root.level, httpx_logger.level)
    try:
        setup_logging("debug", log_format, stream=stream)
        logging.getLogger("mount.test").info("hello", extra={"role": "alice"})
        httpx_logger.info("quiet at info")
    finally:
        # Hand pytest its own handlers back, so later tests still capture logs.
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        httpx_logger.setLevel(saved[2])
    (line,) = stream.getvalue().splitlines()
    if log_format == "json":
        assert json.loads(line)["role"] == "alice"
    else:
        assert line.endswith("[INFO] mount.test: hello role=alice")
