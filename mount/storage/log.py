"""The append-only store: JSON lines, one fsynced line per group-committed batch.

A durable write appends one line and fsyncs it, so its cost does not grow with the
number of entries (TinyDBStore rewrites its whole file on every write). The file is
rewritten only when it has grown past `compact_factor` times the size of the live data,
so compaction costs O(1) per write, amortized.

File layout, one JSON object a line:

    {"format": "entra-broker-log", "version": 1, "seal_fingerprint": "..." | null}
    {"w": {"<key>": <value or sealed text>, "<deleted key>": null, ...}}
    ...

A line is a whole batch: a `put_many` is never split across lines, so it is all or
nothing. A process killed while appending leaves at most one torn last line, which
was never acknowledged: it is ignored (and cut off) at the next open.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import contextlib
import json
import logging
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mount.storage.barrier import Barrier
from mount.storage.group_commit import GroupCommit
from mount.storage.store import (
    GroupCommittedStore,
    StorageError,
    _check_key,
    _fsync_dir,
    _lock,
    check_seal,
    return_freed_memory,
    temp_path,
)

__all__ = ["LogStore"]

logger = logging.getLogger(__name__)

FORMAT = "entra-broker-log"
VERSION = 1
# Rewrite the file once it is this many times the live data, and at least this big.
COMPACT_FACTOR = 3.0
COMPACT_MIN_BYTES = 4 * 1024 * 1024
# Entries per line in a compacted file: bounded lines, and few of them.
_SNAPSHOT_CHUNK = 1000
# Bytes a key/value pair adds to a line besides the two texts: quotes, colon, comma.
_PAIR_OVERHEAD = 4
# Keys whose sealed values stay on disk, not in memory: leases, which the lease manager
# reads once at start and then holds itself (100,000 sealed texts are ~70 MB).
COLD_PREFIXES = ("sys/expire/",)
# A cold value is held as one int, its file offset shifted left by this many bits plus
# its length; longer values stay in memory.
_LENGTH_BITS = 24
_LENGTH_MASK = (1 << _LENGTH_BITS) - 1
# Cold values read ahead in key order once gets walk them in order (a start-up load).
_READ_AHEAD = 512


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _length(stored: str | int) -> int:
    """The length of a stored text, whether held in memory or as its place in the file."""
    return stored & _LENGTH_MASK if isinstance(stored, int) else len(stored)


class LogStore(GroupCommittedStore):
    """A store in one append-only file, optionally sealed, used from the event loop.

    Everything lives in memory as the text that is on disk (sealed text with a barrier,
    JSON text without), so a `get` is a dict lookup and a decrypt on the loop, with no
    thread hop; except, in a sealed store, values under `cold_prefixes`: memory holds
    only where each one is in the file, and a get reads it there on the worker thread
    (reading ahead in key order, so that loading them all costs few thread hops).

    Writes are group-committed as in TinyDBStore: puts arriving while a
    line is being written go together in the next line, and each put returns once the
    line holding it is fsynced. Sealing, appending and compaction run on one worker
    thread; memory is updated on the loop once the line is durable.
    """

    def __init__(
        self,
        path: Path,
        barrier: Barrier | None = None,
        *,
        compact_factor: float = COMPACT_FACTOR,
        compact_min_bytes: int = COMPACT_MIN_BYTES,
        cold_prefixes: tuple[str, ...] = COLD_PREFIXES,
    ) -> None:
        self._path = Path(path)
        self._temp = temp_path(self._path)
        self._barrier = barrier
        self._compact_factor = compact_factor
        self._compact_min_bytes = compact_min_bytes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="logstore")
        # The stored text, or for a cold value its place in the file (see _LENGTH_BITS).
        self._data: dict[str, str | int] = {}
        self._cold = cold_prefixes if barrier is not None else ()
        # Cold values read ahead of their get, and the key a get in order would ask next.
        self._ahead: dict[str, str] = {}
        self._next_cold: str | None = None
        self._read_fd = -1
        # Every key, sorted, for `list`; rebuilt on the next list after a key came or went.
        self._sorted: builtins.list[str] | None = None
        self._live_bytes = 0
        self._file_bytes = 0
        self._fd = -1
        self._lock_fd = -1
        self._commits = GroupCommit(self._commit, name=str(self._path), after=self._upkeep)
        self._closed = False
        self.appends = 0  # lines appended, for tests and benchmarks
        self.compactions = 0
        self.cold_reads = 0  # thread hops reading cold values
        self._applies = 0  # batches applied to memory, to spot a read-ahead gone stale
        try:
            self._executor.submit(self._open).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def __repr__(self) -> str:
        return f"LogStore(path={str(self._path)!r}, sealed={self._barrier is not None})"

    # -- the Storage protocol ---------------------------------------------------------

    async def get(self, key: str) -> Any | None:
        _check_key(key)
        self._ensure_open()
        stored = self._data.get(key)
        if stored is None:
            return None
        if type(stored) is int:
            text = self._ahead.pop(key, None)
            if text is None:
                text = await self._read_cold(key)
                if text is None:
                    return None
            stored = text
        assert isinstance(stored, str)
        if self._barrier is not None:
            # Decoding first spares json.loads its encoding sniffing (100,000 gets at start).
            return json.loads(self._barrier.open(key, stored).decode("utf-8"))
        return json.loads(stored)

    async def list(self, prefix: str = "") -> builtins.list[str]:
        """Direct children of `prefix`, sorted; skips each folder's keys by bisection.

        Scanning every key for every list made a start with 100,000 leases spend
        1.8 s walking folders; this costs O(children x log n) once the index is sorted.
        """
        self._ensure_open()
        if self._sorted is None:
            self._sorted = sorted(self._data)
        keys = self._sorted
        found: builtins.list[str] = []
        size = len(prefix)
        index = bisect.bisect_left(keys, prefix)
        while index < len(keys):
            key = keys[index]
            if not key.startswith(prefix):
                break
            head, sep, _ = key[size:].partition("/")
            if not head and not sep:  # the prefix itself is a key: not its own child
                index += 1
                continue
            found.append(head + sep)
            if not sep:
                index += 1
                continue
            # "0" follows "/" in code point order: skip every key inside this folder.
            index = bisect.bisect_left(keys, prefix + head + "0", index)
        return found

    async def _read_cold(self, key: str) -> str | None:
        """Read a cold value on the worker thread; with the next ones if gets go in order."""
        if self._sorted is None:
            self._sorted = sorted(self._data)
        start = bisect.bisect_left(self._sorted, key)
        count = _READ_AHEAD if key == self._next_cold else 1
        keys = self._sorted[start : start + count]
        after = start + len(keys)
        next_key = self._sorted[after] if after < len(self._sorted) else None
        applies = self._applies
        read = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._pread_many, keys
        )
        self.cold_reads += 1
        text = read.pop(key, None)
        # A write applied meanwhile may have replaced some of the values read ahead.
        self._ahead = read if applies == self._applies else {}
        # A get of the key after the last one read continues a walk in order.
        self._next_cold = next_key
        return text

    async def _commit(self, batch: dict[str, str | None]) -> None:
        """One appended line for a merged batch (see GroupCommit), then the index."""
        loop = asyncio.get_running_loop()
        self._apply(await loop.run_in_executor(self._executor, self._append, batch))

    async def _upkeep(self) -> None:
        """Compact once the log has grown well past the live data; the log stays whole if
        this fails, and appending goes on."""
        if self._should_compact():
            await asyncio.get_running_loop().run_in_executor(self._executor, self._compact)

    def _apply(self, stored: Mapping[str, str | int | None]) -> None:
        self._applies += 1
        for key, text in stored.items():
            old = self._data.pop(key, None)
            self._ahead.pop(key, None)
            if old is not None:
                self._live_bytes -= len(key) + _length(old) + _PAIR_OVERHEAD
            if text is not None:
                self._data[key] = text
                self._live_bytes += len(key) + _length(text) + _PAIR_OVERHEAD
            if (old is None) != (text is None):
                self._sorted = None

    def _write_now(self, batch: dict[str, str | None]) -> None:
        # On the worker thread, but nothing reads memory concurrently while opening.
        self._apply(self._append(batch))

    def _should_compact(self) -> bool:
        return (
            self._file_bytes > self._compact_min_bytes
            and self._file_bytes > self._compact_factor * self._live_bytes
        )

    # -- worker thread side -----------------------------------------------------------

    def _header(self) -> str:
        fingerprint = None if self._barrier is None else self._barrier.fingerprint
        return _dumps({"format": FORMAT, "version": VERSION, "seal_fingerprint": fingerprint})

    def _stored_form(self, key: str, text: str) -> str:
        if self._barrier is not None:
            return self._barrier.seal(key, text.encode("utf-8"))
        return text

    def _line(self, stored: Mapping[str, str | None]) -> bytes:
        """One batch line; unsealed values go in as JSON, sealed ones as strings."""
        if self._barrier is not None:
            return (_dumps({"w": stored}) + "\n").encode("utf-8")
        parts = [
            f"{_dumps(key)}:{'null' if text is None else text}" for key, text in stored.items()
        ]
        return ('{"w":{' + ",".join(parts) + "}}\n").encode("utf-8")

    def _places(self, line: bytes, base: int, stored: Mapping[str, str | None]) -> dict[str, int]:
        """Where each cold value of a sealed line (starting at file offset `base`) lies."""
        places: dict[str, int] = {}
        if not self._cold:
            return places
        position = 0
        for key, text in stored.items():
            if (
                text is None
                or not key.startswith(self._cold)
                or len(text) > _LENGTH_MASK
                or not text.isascii()
            ):
                continue
            # Sealed text is base64 with a version prefix: JSON writes it unescaped.
            needle = b'"' + text.encode("ascii") + b'"'
            found = line.find(needle, position)
            if found < 0:
                continue
            places[key] = (base + found + 1) << _LENGTH_BITS | len(text)
            position = found + len(needle)
        return places

    def _pread_many(self, keys: builtins.list[str]) -> dict[str, str]:
        """The cold values of `keys`, read from the file (their places are read here, on
        the worker thread, so a compaction that ran before is taken into account)."""
        found: dict[str, str] = {}
        places = [(key, place) for key in keys if type(place := self._data.get(key)) is int]
        if not places:
            return found
        try:
            first = min(place >> _LENGTH_BITS for _, place in places)
            end = max((place >> _LENGTH_BITS) + (place & _LENGTH_MASK) for _, place in places)
            wanted = sum(place & _LENGTH_MASK for _, place in places)
            if end - first <= 2 * wanted:  # neighbours in the file: one read for them all
                span = os.pread(self._read_fd, end - first, first)
                for key, place in places:
                    at = (place >> _LENGTH_BITS) - first
                    found[key] = span[at : at + (place & _LENGTH_MASK)].decode("ascii")
                return found
            for key, place in places:
                raw = os.pread(self._read_fd, place & _LENGTH_MASK, place >> _LENGTH_BITS)
                found[key] = raw.decode("ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise StorageError(f"cannot read storage file {self._path}: {exc}") from exc
        return found

    def _append(self, batch: Mapping[str, str | None]) -> dict[str, str | int | None]:
        stored = {
            key: None if text is None else self._stored_form(key, text)
            for key, text in batch.items()
        }
        line = self._line(stored)
        try:
            written = os.write(self._fd, line)
            while written < len(line):
                written += os.write(self._fd, line[written:])
            os.fsync(self._fd)
        except OSError as exc:
            # Cut off whatever part of the line reached the file: the next line must
            # start clean, and this batch is reported failed, so it must not count.
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._file_bytes)
            raise StorageError(
                f"cannot write storage file {self._path}: {exc.strerror or exc}"
            ) from exc
        result: dict[str, str | int | None] = dict(stored)
        result.update(self._places(line, self._file_bytes, stored))
        self._file_bytes += len(line)
        self.appends += 1
        return result

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = _lock(self._path)
        try:
            if self._path.exists():
                self._load()
            else:
                self._write_snapshot()
            self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND)
            self._read_fd = os.open(self._path, os.O_RDONLY)
        except BaseException:
            if self._fd >= 0:
                os.close(self._fd)
            os.close(self._lock_fd)
            raise

    def _close(self) -> None:
        try:
            if self._fd >= 0:
                os.close(self._fd)
            if self._read_fd >= 0:
                os.close(self._read_fd)
        finally:
            os.close(self._lock_fd)

    def _corrupt(self, why: str) -> StorageError:
        return StorageError(
            f"storage file {self._path} is corrupt ({why}); restore it from a backup "
            "or move it away to start with empty storage"
        )

    def _load(self) -> None:
        try:
            raw = self._path.read_bytes()
        except OSError as exc:
            raise StorageError(f"cannot read storage file {self._path}: {exc.strerror}") from None
        lines = raw.split(b"\n")
        # Everything after the last newline is a torn append that was never acknowledged.
        torn = lines.pop()
        if not lines:
            raise self._corrupt("no header line")
        try:
            header = json.loads(lines[0])
        except ValueError as exc:
            raise self._corrupt(f"header: {exc}") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise StorageError(
                f"storage file {self._path} is not an entra-broker log storage file; restore "
                "it from a backup or move it away to start with empty storage"
            )
        self._check_seal(header.get("seal_fingerprint"))
        sealed = self._barrier is not None
        offset = len(lines[0]) + 1
        for number, line in enumerate(lines[1:], start=2):
            base, offset = offset, offset + len(line) + 1
            try:
                record = json.loads(line)
                writes = record["w"]
                if not isinstance(writes, dict):
                    raise TypeError("w is not an object")
            except (ValueError, KeyError, TypeError) as exc:
                raise self._corrupt(f"line {number}: {exc}") from None
            for key, value in writes.items():
                if value is None:
                    self._data.pop(key, None)
                elif sealed:
                    if not isinstance(value, str):
                        raise self._corrupt(f"line {number}: entry {key} is not sealed")
                    self._data[key] = value
                else:
                    self._data[key] = _dumps(value)
            if sealed and self._cold:
                self._data.update(self._places(line, base, writes))
        self._live_bytes = sum(len(k) + _length(v) + _PAIR_OVERHEAD for k, v in self._data.items())
        self._file_bytes = len(raw) - len(torn)
        del raw, lines
        return_freed_memory()
        if torn:
            logger.warning(
                "storage file %s ended in a torn write (%d bytes), ignored", self._path, len(torn)
            )
            with open(self._path, "r+b") as handle:
                handle.truncate(self._file_bytes)
                os.fsync(handle.fileno())

    def _check_seal(self, stored: Any) -> None:
        check_seal(self._path, stored, None if self._barrier is None else self._barrier.fingerprint)

    def _write_snapshot(self) -> None:
        """Write the header and the live data to a new file, then swap it in atomically."""
        items = list(self._data.items())
        size = 0
        places: dict[str, int] = {}
        try:
            self._temp.unlink(missing_ok=True)
            fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                chunk = (self._header() + "\n").encode("utf-8")
                handle.write(chunk)
                size += len(chunk)
                for start in range(0, len(items), _SNAPSHOT_CHUNK):
                    texts = self._texts(items[start : start + _SNAPSHOT_CHUNK])
                    chunk = self._line(texts)
                    places.update(self._places(chunk, size, texts))
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(self._temp, self._path)
            _fsync_dir(self._path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self._temp.unlink(missing_ok=True)
            raise StorageError(
                f"cannot write storage file {self._path}: {exc.strerror or exc}"
            ) from exc
        self._file_bytes = size
        # Cold values moved with the rewrite: point at the new file from now on.
        self._data.update(places)
        if self._read_fd >= 0:
            old_fd, self._read_fd = self._read_fd, os.open(self._path, os.O_RDONLY)
            os.close(old_fd)

    def _texts(self, items: builtins.list[tuple[str, str | int]]) -> dict[str, str | None]:
        """Entries with their cold values read back from the file, for a rewrite."""
        cold = self._pread_many([key for key, value in items if type(value) is int])
        return {key: value if isinstance(value, str) else cold[key] for key, value in items}

    def _compact(self) -> None:
        before = self._file_bytes
        self._write_snapshot()
        old_fd, self._fd = self._fd, os.open(self._path, os.O_WRONLY | os.O_APPEND)
        os.close(old_fd)
        self.compactions += 1
        logger.info(
            "storage compacted path=%s bytes_before=%d bytes_after=%d entries=%d",
            self._path,
            before,
            self._file_bytes,
            len(self._data),
        )
