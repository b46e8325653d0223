"""The write-ahead log that covers an issue until OpenBao holds its lease.

OpenBao persists a lease only after the plugin answers. A plugin killed between
creating a credential and answering would leave a live credential no lease will ever
revoke, so an entry naming the credential (its secret type and internal data) is put
in the mount's storage before the credential is created, and removed once the answer
is out. Entries nobody is working on any more are rolled back through the secret
type's own revoke: on OpenBao's periodic `rollback` operation, and when a mount is
first used in a new process (after OpenBao restarted a killed plugin).

An entry is "nobody's" when its issue is not running in this process and either this
process wrote it (the issue gave up), or its writer, on this machine, is gone (a
process id that no longer runs the same process), or it is older than MIN_AGE (a
writer elsewhere, say the old active node of an HA cluster). The failure this leaves
is the safe one: an answer that got out just before the plugin died keeps its entry,
so the rollback kills a credential whose lease is live (the client reads a new one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mount.sdk import Backend, SecretRequest, Storage

__all__ = ["MIN_AGE", "WAL_PREFIX", "WriteAheadLog", "Writer"]

logger = logging.getLogger(__name__)

# Under the mount's storage; apart from the backend's own keys.
WAL_PREFIX = "goplugin/wal/"
# Seconds after which an entry of a writer we cannot see is rolled back: far longer
# than one issue may take (the Graph deadline is 30 s, retries included).
MIN_AGE = 300.0


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux); None if it is gone
    (a zombie, killed but not yet reaped, is gone too)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields[19]


@dataclass(frozen=True, slots=True)
class Writer:
    """Which process wrote an entry: enough to tell, on the same machine, that it died."""

    host: str
    pid: int
    started: str

    @classmethod
    def current(cls) -> Writer:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _start_time(pid) or "")

    def to_storage(self) -> dict[str, Any]:
        return {"host": self.host, "pid": self.pid, "started": self.started}

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> Writer:
        return cls(str(data.get("host", "")), int(data.get("pid", 0)), str(data.get("started", "")))

    def gone(self, here: Writer) -> bool:
        """True only when certain: same machine, and that pid is not the same process."""
        if self.host != here.host or not self.started or not here.started:
            return False
        return _start_time(self.pid) != self.started


# The ids of entries whose issue runs in this process, shared by every mount's log: a
# mount set up again (a new log) must not take a running issue of the old one for dead.
_RUNNING: set[str] = set()


class WriteAheadLog:
    """One mount's entries; `running` holds the ids whose issue runs in this process."""

    def __init__(self, storage: Storage, clock: Callable[[], float] = time.time) -> None:
        self.storage = storage
        self.clock = clock
        self.here = Writer.current()
        self.running = _RUNNING
        self._rollback_lock = asyncio.Lock()
        # The entries of running issues as written, so an update needs no read back.
        self._written: dict[str, dict[str, Any]] = {}

    async def begin(self, secret_type: str, internal: Mapping[str, Any], path: str) -> str:
        """Record the credential about to be created; returns the entry's id."""
        entry_id = uuid.uuid4().hex
        self.running.add(entry_id)
        entry = {
            "kind": "issue",
            "secret_type": secret_type,
            "internal": dict(internal),
            "path": path,
            "created": self.clock(),
            "writer": self.here.to_storage(),
        }
        try:
            await self.storage.put(WAL_PREFIX + entry_id, entry)
        except BaseException:
            self.running.discard(entry_id)
            raise
        self._written[entry_id] = entry
        return entry_id

    async def update(self, entry_id: str, internal: Mapping[str, Any]) -> None:
        """Record what creating told (an id revoke needs) before the entry may be used."""
        entry = self._written.get(entry_id)
        if entry is not None:
            entry["internal"] = dict(internal)
            await self.storage.put(WAL_PREFIX + entry_id, entry)

    async def end(self, entry_id: str) -> None:
        """The answer is out (or nothing was created): the entry is done."""
        try:
            await self.storage.delete(WAL_PREFIX + entry_id)
        finally:
            self.running.discard(entry_id)
            self._written.pop(entry_id, None)

    def release(self, entry_id: str) -> None:
        """The issue stopped without an answer: the entry is the rollback's now."""
        self.running.discard(entry_id)
        self._written.pop(entry_id, None)

    def _abandoned(self, entry: Mapping[str, Any]) -> bool:
        writer = Writer.from_storage(entry.get("writer") or {})
        if writer == self.here:
            return True  # ours, and not running: the issue gave up
        if writer.gone(self.here):
            return True
        created = entry.get("created")
        return not isinstance(created, int | float) or self.clock() - created >= MIN_AGE

    async def rollback(self, backend: Backend) -> int:
        """Revoke every abandoned entry's credential, then drop the entry; returns how
        many were rolled back. A revoke that fails leaves its entry for the next run."""
        async with self._rollback_lock:
            done = 0
            for name in await self.storage.list(WAL_PREFIX):
                if name.endswith("/") or name in self.running:
                    continue
                entry = await self.storage.get(WAL_PREFIX + name)
                if not isinstance(entry, dict) or not self._abandoned(entry):
                    continue
                if await self._undo(backend, name, entry):
                    done += 1
            return done

    async def _undo(self, backend: Backend, name: str, entry: Mapping[str, Any]) -> bool:
        secret_type = backend.secrets.get(str(entry.get("secret_type", "")))
        if secret_type is None:
            logger.error("wal: entry %s names an unknown secret type; kept", name)
            return False
        try:
            await secret_type.revoke(
                SecretRequest(
                    storage=self.storage,
                    internal=dict(entry.get("internal") or {}),
                    lease_path=str(entry.get("path", "")),
                )
            )
        except Exception as exc:  # retried at the next rollback
            logger.warning("wal: rollback of %s failed, kept for the next one: %s", name, exc)
            return False
        await self.storage.delete(WAL_PREFIX + name)
        logger.info("wal: rolled back an unanswered issue path=%s", entry.get("path", ""))
        return True
