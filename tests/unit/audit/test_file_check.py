"""Which files an audit device may append to (mount/audit/device.py, check_audit_file)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mount.audit.device import check_audit_file
from mount.sdk.errors import InvalidRequestError

OURS = (
    '{"time":"2026-11-27T04:07:28.475982Z","type":"request","auth":{},"request":'
    '{"id":"85ae4fc1","operation":"read","path":"sys/health"}}\n'
)


def refusal(path: Path, reserved: dict[Path, str] | None = None) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        check_audit_file(str(path), reserved or {})
    return caught.value.message


def test_missing_empty_and_audit_log_files_may_be_written(tmp_path):
    empty = tmp_path / "empty.log"
    empty.touch()
    ours = tmp_path / "ours.log"
    ours.write_text(OURS * 3)
    prefixed = tmp_path / "prefixed.log"
    prefixed.write_text("broker-1: " + OURS)
    torn = tmp_path / "torn.log"  # a crash cut the very first line short
    torn.write_text(OURS[:80])
    for path in (tmp_path / "missing.log", empty, ours, prefixed, torn):
        check_audit_file(str(path), {})
    check_audit_file("stdout", {tmp_path / "x": "the storage file"})
    check_audit_file("DISCARD", {})


def test_an_existing_file_that_is_not_an_audit_log_is_refused(tmp_path):
    for text in ("my notes\n", "\n" + OURS, '{"format": "entra-broker-log"}\n', "x" * 100_000):
        path = tmp_path / "other.txt"
        path.write_text(text)
        assert refusal(path) == (
            f'file_path "{path}" is an existing file that is not an audit log; an audit '
            "device needs a file of its own"
        )


def test_reserved_files_are_refused_by_name_link_or_hard_link(tmp_path):
    key = tmp_path / "seal.key"
    key.write_text("a key\n")
    store = tmp_path / "broker.db"  # not there yet: refused by name alone
    reserved = {key: "the seal key file", store: "the storage file"}
    link = tmp_path / "link.log"
    link.symlink_to(key)
    hard = tmp_path / "hard.log"
    os.link(key, hard)
    for path in (key, link, hard, tmp_path / "sub" / ".." / "seal.key"):
        assert refusal(path, reserved) == (
            f'file_path "{path}" is the seal key file; an audit device needs a file of its own'
        )
    assert "is the storage file" in refusal(store, reserved)


def test_a_fifo_is_not_read(tmp_path):
    # Opening a FIFO to read blocks until a writer comes; the check must not wait.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    check_audit_file(str(fifo), {})
