"""TinyDBStore: the whole store in one TinyDB document, rewritten atomically on each
group-committed write; AtomicJSONStorage, the file layer under it."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import copy
import json
import os
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from tinydb import TinyDB
from tinydb.storages import Storage as TinyStorage
from tinydb.table import Document

from mount.sdk.storage import StorageError, check_key, list_children
from mount.storage.barrier import Barrier
from mount.storage.files import check_seal, hold_lock, replacing
from mount.storage.group_commit import GroupCommit, GroupCommittedStore

__all__ = ["AtomicJSONStorage", "TinyDBStore"]

_T = TypeVar("_T")
_DATA_TABLE = "entries"
# The seal fingerprint lives in its own table, so no storage key can collide with it
# and `list()` never sees it.
_META_TABLE = "meta"
_META_DOC_ID = 1


class AtomicJSONStorage(TinyStorage):
    """A TinyDB storage holding the document in memory and replacing the file atomically.

    TinyDB's JSONStorage re-reads and re-parses the whole file on every read; this one
    reads it once. A write replaces the file whole (see files.replacing), so after a
    crash the file is the old or the new version. Inside `batch()`, writes only update
    memory and the file is written once at the end.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
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
            with replacing(self.path) as handle:
                handle.write(text.encode("utf-8"))
        except BaseException:
            self._forget()
            raise
        self._dirty = False
        self.writes += 1


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
        check_key(key)
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
        self._lock_fd = hold_lock(self._path)
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
        return list_children(self._ids, prefix)

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
