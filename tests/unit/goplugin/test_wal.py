"""Which write-ahead entries a rollback undoes: nobody's, never a running issue's."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from goplugin.wal import MIN_AGE, WAL_PREFIX, WriteAheadLog, Writer
from mount.sdk import Backend, SecretRequest, SecretType, UpstreamError
from mount.sdk.testing import MemoryStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _recording_backend(revoked: list[dict[str, Any]], fail: bool = False) -> Backend:
    async def revoke(req: SecretRequest) -> None:
        if fail:
            raise UpstreamError("Graph is down", retryable=True)
        revoked.append(dict(req.internal))

    return Backend(paths=[], secrets=[SecretType("pw", revoke=revoke)])


def _dead_writer() -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    here = Writer.current()
    return {"host": here.host, "pid": int(done.stdout), "started": "1"}


async def test_a_running_issue_is_never_rolled_back_and_a_released_one_is() -> None:
    revoked: list[dict[str, Any]] = []
    wal = WriteAheadLog(MemoryStorage(), Clock())
    entry = await wal.begin("pw", {"user": "a"}, "creds/a")
    assert await wal.rollback(_recording_backend(revoked)) == 0
    wal.release(entry)  # the issue gave up without knowing whether Graph applied it
    assert await wal.rollback(_recording_backend(revoked)) == 1
    assert revoked == [{"user": "a"}]
    assert await wal.storage.list(WAL_PREFIX) == []


async def test_an_answered_issue_leaves_nothing_behind() -> None:
    revoked: list[dict[str, Any]] = []
    wal = WriteAheadLog(MemoryStorage(), Clock())
    entry = await wal.begin("pw", {"user": "a"}, "creds/a")
    await wal.end(entry)
    assert await wal.rollback(_recording_backend(revoked)) == 0 and revoked == []


async def test_entries_of_other_writers_by_liveness_and_age() -> None:
    clock = Clock()
    storage = MemoryStorage()
    wal = WriteAheadLog(storage, clock)
    base = {"kind": "issue", "secret_type": "pw", "path": "creds/x", "created": clock.now}
    # A process on this machine that is gone: at once.
    await storage.put(
        WAL_PREFIX + "dead", {**base, "internal": {"u": "dead"}, "writer": _dead_writer()}
    )
    # A writer we cannot see (another node): only once it is old.
    elsewhere = {"host": "other-node", "pid": 1, "started": "1"}
    await storage.put(WAL_PREFIX + "far", {**base, "internal": {"u": "far"}, "writer": elsewhere})
    revoked: list[dict[str, Any]] = []
    assert await wal.rollback(_recording_backend(revoked)) == 1
    assert revoked == [{"u": "dead"}]
    clock.now += MIN_AGE
    assert await wal.rollback(_recording_backend(revoked)) == 1
    assert revoked == [{"u": "dead"}, {"u": "far"}]


async def test_a_failed_revoke_keeps_the_entry_for_the_next_rollback() -> None:
    wal = WriteAheadLog(MemoryStorage(), Clock())
    wal.release(await wal.begin("pw", {"user": "a"}, "creds/a"))
    revoked: list[dict[str, Any]] = []
    assert await wal.rollback(_recording_backend(revoked, fail=True)) == 0
    assert len(await wal.storage.list(WAL_PREFIX)) == 1
    assert await wal.rollback(_recording_backend(revoked)) == 1 and revoked == [{"user": "a"}]


async def test_a_second_log_of_the_same_mount_leaves_a_running_issue_alone() -> None:
    storage = MemoryStorage()
    first = WriteAheadLog(storage, Clock())
    entry = await first.begin("pw", {"user": "a"}, "creds/a")
    revoked: list[dict[str, Any]] = []
    # The mount was set up again in this process while the issue still runs.
    assert await WriteAheadLog(storage, Clock()).rollback(_recording_backend(revoked)) == 0
    await first.end(entry)
    assert revoked == []
