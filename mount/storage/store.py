"""The embedded store: TinyDB in one crash-safe file, prefix views, group-committed writes."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import ctypes
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tinydb import TinyDB
from tinydb.storages import Storage as TinyStorage
from tinydb.table import Document

from mount.sdk.errors import InvalidRequestError
from mount.sdk.logical import Storage
from mount.storage.barrier import Barrier
from mount.storage.group_commit import GroupCommit

__all__ = [
    "AtomicJSONStorage",
    "MemoryStore",
    "ParentReferenceError",
    "StorageError",
    "StorageView",
    "check_seal",
    "lock_path",
    "temp_path",
    "TinyDBStore",
    "GroupCommittedStore",
    "return_freed_memory",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_DATA_TABLE = "entries"
# The seal fingerprint lives in its own table, so no storage key can collide with it
# and `list()` never sees it.
_META_TABLE = "meta"
_META_DOC_ID = 1


class StorageError(Exception):
    """The store cannot be opened or used; the message says what to do."""


class ParentReferenceError(InvalidRequestError):
    """A name or id from a request would climb out of its storage prefix: the caller's fault."""

    def __init__(self, key: str) -> None:
        super().__init__(
            f"path cannot contain parent references: {key!r} contains '..'; "
            "names and ids must not contain two dots in a row"
        )


def check_seal(path: Path, stored: Any, wanted: str | None) -> None:
    """Refuse a store whose seal fingerprint is not the one of the key we were given."""
    if stored == wanted:
        return
    if stored is None:
        raise StorageError(
            f"storage file {path} was created without a seal key and cannot be opened with one"
        )
    if wanted is None:
        raise StorageError(f"storage file {path} is sealed; a seal key is required to open it")
    raise StorageError(
        "the seal key does not match the one this storage was created with; set "
        "ENTRA_BROKER_SEAL_KEY or the key file back to the original key"
    )


def _children(keys: Iterable[str], prefix: str) -> list[str]:
    """Direct children of `prefix`: leaf names and `folder/` names, sorted, unique."""
    found: set[str] = set()
    size = len(prefix)
    for key in keys:
        if key.startswith(prefix) and len(key) > size:
            head, sep, _ = key[size:].partition("/")
            found.add(head + sep)
    # Python orders str by code point, which is UTF-8 byte order.
    return sorted(found)


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise StorageError(f"storage key must be a non-empty string, not {key!r}")


def _encode(key: str, value: Any) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise StorageError(f"the value for storage key {key} is not JSON: {exc}") from None


def _encode_batch(items: Mapping[str, Any | None]) -> dict[str, str | None]:
    """Check each key and encode each value (None: a delete) for a durable write."""
    encoded: dict[str, str | None] = {}
    for key, value in items.items():
        _check_key(key)
        encoded[key] = None if value is None else _encode(key, value)
    return encoded


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock_path(path: Path) -> Path:
    """The lock file of a store's file (see _lock)."""
    return path.with_name(path.name + ".lock")


def temp_path(path: Path) -> Path:
    """Where a store writes the next version of its file before renaming it into place."""
    return path.with_name(path.name + ".tmp")


def _lock(path: Path) -> int:
    """Hold an exclusive lock on `<path>.lock` while the store is open.

    Each open store keeps the whole document in memory, so two processes on one file
    would silently undo each other's writes. The kernel drops the lock when the
    process dies, even by `kill -9`.
    """
    lock = lock_path(path)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot open storage lock file {lock}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StorageError(
            f"storage file {path} is in use by another entra-broker process; stop it first"
        ) from None
    return fd


class AtomicJSONStorage(TinyStorage):
    """A TinyDB storage holding the document in memory and replacing the file atomically.

    TinyDB's JSONStorage re-reads and re-parses the whole file on every read; this one
    reads it once. A write goes to `<path>.tmp`, is fsynced, renamed over the file and the
    directory is fsynced, so after a crash the file is the old or the new version, whole.
    Inside `batch()`, writes only update memory and the file is written once at the end.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._temp = temp_path(self.path)
        self._cache: dict[str, dict[str, Any]] | None = None
        self._loaded = False
        self._batch_depth = 0
        self._dirty = False
        self.writes = 0  # file writes done, for tests and benchmarks

    def read(self) -> dict[str, dict[str, Any]] | None:
        if not self._loaded:
            self._cache = self._load()
            self._loaded = True
        # TinyDB mutates what it reads and then writes it back; the same object is
        # kept as the cache, and `write` drops it if the file write fails.
        return self._cache

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._cache = data
        self._loaded = True
        if self._batch_depth:
            self._dirty = True
            return
        self._write_file(data)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Fold every write made inside into one file write at the end."""
        self._batch_depth += 1
        try:
            yield
        except BaseException:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                self._forget()
            raise
        self._batch_depth -= 1
        if self._batch_depth == 0 and self._dirty:
            assert self._cache is not None
            self._write_file(self._cache)

    def close(self) -> None:
        self._cache = None
        self._loaded = False

    def _forget(self) -> None:
        # Memory may hold changes the file does not: reread the file on next access.
        self._cache = None
        self._loaded = False
        self._dirty = False

    def _load(self) -> dict[str, dict[str, Any]] | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(f"cannot read storage file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise StorageError(
                f"storage file {self.path} is corrupt ({exc}); restore it from a backup "
                "or move it away to start with empty storage"
            ) from None
        if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
            raise StorageError(
                f"storage file {self.path} is not an entra-broker storage file; restore it "
                "from a backup or move it away to start with empty storage"
            )
        return data

    def _write_file(self, data: dict[str, dict[str, Any]]) -> None:
        try:
            text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
            # A stale temp file from a crash may have other owners or modes: start afresh.
            self._temp.unlink(missing_ok=True)
            fd = os.open(self._temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(self._temp, self.path)
            _fsync_dir(self.path.parent)
        except BaseException as exc:
            self._forget()
            with contextlib.suppress(OSError):
                self._temp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise StorageError(
                    f"cannot write storage file {self.path}: {exc.strerror or exc}"
                ) from exc
            raise
        self._dirty = False
        self.writes += 1


class _Backing(Protocol):
    """What a StorageView needs from the store under it."""

    async def get(self, key: str) -> Any | None: ...

    async def put(self, key: str, value: Any) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def list(self, prefix: str = "") -> list[str]: ...

    async def put_many(self, items: Mapping[str, Any | None]) -> None: ...


class StorageView:
    """The Storage protocol under a key prefix (Vault's logical.StorageView); views nest."""

    __slots__ = ("_prefix", "_store")

    def __init__(self, store: _Backing, prefix: str) -> None:
        self._store = store
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"StorageView(prefix={self._prefix!r})"

    @property
    def prefix(self) -> str:
        return self._prefix

    def view(self, prefix: str) -> StorageView:
        return StorageView(self._store, self._prefix + prefix)

    def _key(self, key: str) -> str:
        # As Vault's view does: a relative key must not climb out of the prefix.
        if not isinstance(key, str):
            raise StorageError(f"storage key must be a string, not {key!r}")
        if ".." in key:
            raise ParentReferenceError(key)
        return self._prefix + key

    async def get(self, key: str) -> Any | None:
        return await self._store.get(self._key(key))

    async def put(self, key: str, value: Any) -> None:
        await self._store.put(self._key(key), value)

    async def delete(self, key: str) -> None:
        await self._store.delete(self._key(key))

    async def list(self, prefix: str = "") -> list[str]:
        return await self._store.list(self._key(prefix))

    async def put_many(self, items: Mapping[str, Any | None]) -> None:
        await self._store.put_many({self._key(k): v for k, v in items.items()})


class MemoryStore:
    """A dict-backed store with TinyDBStore's interface, for tests and in-memory dev mode.

    Values are JSON round-tripped, so callers get copies, as from a real store.
    """

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def view(self, prefix: str) -> StorageView:
        return StorageView(self, prefix)

    async def get(self, key: str) -> Any | None:
        _check_key(key)
        text = self._data.get(key)
        return None if text is None else json.loads(text)

    async def put(self, key: str, value: Any) -> None:
        await self.put_many({key: value})

    async def delete(self, key: str) -> None:
        await self.put_many({key: None})

    async def list(self, prefix: str = "") -> list[str]:
        return _children(self._data, prefix)

    async def put_many(self, items: Mapping[str, Any | None]) -> None:
        encoded = {}
        for key, value in items.items():
            _check_key(key)
            encoded[key] = None if value is None else _encode(key, value)
        for key, text in encoded.items():
            if text is None:
                self._data.pop(key, None)
            else:
                self._data[key] = text

    async def close(self) -> None:
        return None


class GroupCommittedStore:
    """What a file store on one worker thread shares: encoding on the caller's side,
    group-committed writes, and closing after the last write. Subclasses provide
    `get`, `list`, `_commit(batch)` (one durable write) and `_close()` (on the worker)."""

    _path: Path
    _executor: ThreadPoolExecutor
    _commits: GroupCommit
    _closed: bool

    @property
    def path(self) -> Path:
        return self._path

    def view(self, prefix: str) -> StorageView:
        return StorageView(self, prefix)

    async def get(self, key: str) -> Any | None:
        raise NotImplementedError

    async def list(self, prefix: str = "") -> builtins.list[str]:
        raise NotImplementedError

    async def put(self, key: str, value: Any) -> None:
        await self.put_many({key: value})

    async def delete(self, key: str) -> None:
        await self.put_many({key: None})

    async def put_many(self, items: Mapping[str, Any | None]) -> None:
        """Apply puts (and deletes, for None values) together, in one durable write.

        Returns once that write is durable. The batch is all or nothing: it is never
        split across writes.
        """
        # Encode now, on the caller's side: a bad value fails its own call only, and a
        # caller mutating the value after the call cannot change what gets written.
        encoded = _encode_batch(items)
        if not encoded:
            return
        self._ensure_open()
        await self._commits.submit(encoded)

    async def close(self) -> None:
        """Wait for pending writes, then release the file and the worker thread."""
        if self._closed:
            return
        await self._commits.drain()
        self._closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close)
        finally:
            self._executor.shutdown(wait=False)

    def write_now(self, items: Mapping[str, Any | None]) -> None:
        """A blocking durable write, for opening only: nothing else may be writing.

        Moving keys between stores at start-up happens before the event loop serves, in
        a constructor, where the group-committed async path cannot run.
        """
        encoded = _encode_batch(items)
        if encoded:
            self._ensure_open()
            self._executor.submit(self._write_now, encoded).result()

    def close_now(self) -> None:
        """Release the file and the worker thread at once, for a failed open (no writes
        pending)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._executor.submit(self._close).result()
        finally:
            self._executor.shutdown(wait=True)

    def _ensure_open(self) -> None:
        if self._closed:
            raise StorageError(f"storage {self._path} is closed")

    def _write_now(self, batch: dict[str, str | None]) -> None:
        """One durable write on the worker thread (see write_now)."""
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError


class TinyDBStore(GroupCommittedStore):
    """The default store: one TinyDB file, optionally sealed, used from the event loop.

    Every TinyDB call runs on one single-thread executor: TinyDB is not thread-safe, and
    file I/O must not block the loop. Writes are group-committed: puts arriving while a
    file write is under way are applied together by the next one, and each put returns
    only once the file holding it is durable. Opening reads the file synchronously, once,
    at startup.

    Documents are `{"k": key, "v": value}` in one table; an in-memory index from key to
    doc id keeps lookups O(1). With a barrier, `v` is the sealed JSON text, so the file
    shows only key names.
    """

    def __init__(self, path: Path, barrier: Barrier | None = None) -> None:
        self._path = Path(path)
        self._barrier = barrier
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tinydb")
        self._ids: dict[str, int] = {}
        self._next_id = 1
        self._commits = GroupCommit(self._commit, name=str(self._path))
        self._closed = False
        self._json: AtomicJSONStorage
        self._lock_fd = -1
        try:
            self._db = self._executor.submit(self._open).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    def __repr__(self) -> str:
        return f"TinyDBStore(path={str(self._path)!r}, sealed={self._barrier is not None})"

    @property
    def json_storage(self) -> AtomicJSONStorage:
        """The file layer under TinyDB (its `writes` counts file writes)."""
        return self._json

    # -- the Storage protocol ---------------------------------------------------------

    async def get(self, key: str) -> Any | None:
        _check_key(key)
        return await self._call(self._get, key)

    async def list(self, prefix: str = "") -> list[str]:
        return await self._call(self._list, prefix)

    async def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        self._ensure_open()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def _commit(self, batch: dict[str, str | None]) -> None:
        """One file write for a merged batch (see GroupCommit)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._apply, batch)

    # -- worker thread side -----------------------------------------------------------

    def _open(self) -> TinyDB:
        self._path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_fd = _lock(self._path)
        try:
            db = TinyDB(self._path, storage=AtomicJSONStorage)
            storage = db.storage
            assert isinstance(storage, AtomicJSONStorage)
            self._json = storage
            try:
                self._index(db)
                self._check_seal(db)
            except BaseException:
                db.close()
                raise
        except BaseException:
            os.close(self._lock_fd)
            raise
        return db

    def _close(self) -> None:
        try:
            self._db.close()
        finally:
            os.close(self._lock_fd)

    def _index(self, db: TinyDB) -> None:
        self._ids.clear()
        highest = 0
        try:
            docs = db.table(_DATA_TABLE, cache_size=0).all()
        except (TypeError, ValueError):  # a document id that is not a number, and the like
            docs = [Document({}, doc_id=0)]
        for doc in docs:
            key = doc.get("k")
            if not isinstance(key, str) or "v" not in doc or key in self._ids:
                raise StorageError(
                    f"storage file {self._path} has a malformed entry (document {doc.doc_id}); "
                    "restore it from a backup"
                )
            self._ids[key] = doc.doc_id
            highest = max(highest, doc.doc_id)
        self._next_id = highest + 1

    def _check_seal(self, db: TinyDB) -> None:
        meta_table = db.table(_META_TABLE, cache_size=0)
        wanted = None if self._barrier is None else self._barrier.fingerprint
        meta = meta_table.get(doc_id=_META_DOC_ID)
        if meta is None:
            if self._ids and wanted is not None:
                raise StorageError(
                    f"storage file {self._path} was written without a seal key and cannot be "
                    "opened sealed; restore it from a backup"
                )
            meta_table.insert(Document({"seal_fingerprint": wanted}, doc_id=_META_DOC_ID))
            return
        check_seal(self._path, meta.get("seal_fingerprint"), wanted)

    def _get(self, key: str) -> Any | None:
        doc_id = self._ids.get(key)
        if doc_id is None:
            return None
        doc = self._db.table(_DATA_TABLE).get(doc_id=doc_id)
        if doc is None:
            return None
        stored = doc["v"]
        if self._barrier is not None:
            return json.loads(self._barrier.open(key, stored))
        return copy.deepcopy(stored)

    def _list(self, prefix: str) -> builtins.list[str]:
        return _children(self._ids, prefix)

    def keys_now(self) -> builtins.list[str]:
        """Every key stored, read at once (for opening only)."""
        self._ensure_open()
        return self._executor.submit(lambda: builtins.list(self._ids)).result()

    def items_now(self, prefixes: tuple[str, ...]) -> dict[str, Any]:
        """Every key under `prefixes` with its value, read at once (for opening only)."""
        self._ensure_open()

        def read() -> dict[str, Any]:
            return {key: self._get(key) for key in self._ids if key.startswith(prefixes)}

        return self._executor.submit(read).result()

    def _write_now(self, batch: dict[str, str | None]) -> None:
        self._apply(batch)

    def _apply(self, batch: Mapping[str, str | None]) -> None:
        """Apply one batch to TinyDB in at most three table updates and one file write."""
        removed: list[int] = []
        updated: dict[str, Any] = {}
        inserted: list[Document] = []
        new_ids: dict[str, int] = {}
        next_id = self._next_id
        for key, text in batch.items():
            doc_id = self._ids.get(key)
            if text is None:
                if doc_id is not None:
                    removed.append(doc_id)
                continue
            value: Any = (
                self._barrier.seal(key, text.encode("utf-8"))
                if self._barrier is not None
                else json.loads(text)
            )
            if doc_id is not None:
                updated[key] = value
            else:
                new_ids[key] = next_id
                inserted.append(Document({"k": key, "v": value}, doc_id=next_id))
                next_id += 1
        table = self._db.table(_DATA_TABLE)
        try:
            with self._json.batch():
                if removed:
                    table.remove(doc_ids=removed)
                if updated:

                    def replace_value(doc: MutableMapping[str, Any]) -> None:
                        doc["v"] = updated[doc["k"]]

                    table.update(replace_value, doc_ids=[self._ids[k] for k in updated])
                if inserted:
                    table.insert_multiple(inserted)
        except BaseException:
            # TinyDB's memory may now disagree with the file: rebuild both from the file.
            table.clear_cache()
            self._index(self._db)
            raise
        for key, text in batch.items():
            if text is None:
                self._ids.pop(key, None)
        self._ids.update(new_ids)
        self._next_id = next_id


_conforms: Storage = MemoryStore()
_conforms_view: Storage = StorageView(MemoryStore(), "")


def return_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc; a no-op elsewhere).

    Loading a big store allocates and frees the text of every entry (parsing, then
    decrypting); glibc keeps those pages (40 MB after 100,000 leases) unless asked.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
