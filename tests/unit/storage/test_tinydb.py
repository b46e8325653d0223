"""TinyDBStore and its file layer, AtomicJSONStorage (mount/storage/tinydb.py)."""

import json
import os

import pytest

from mount.sdk.storage import StorageError
from mount.storage import files as files_module
from mount.storage.tinydb import AtomicJSONStorage, TinyDBStore


@pytest.mark.parametrize(
    "content",
    [b'{"entries": {"1": {"k": "a", "v"', b"\x00\xff garbage", b"", b"[]", b'{"entries": 3}'],
    ids=["truncated", "binary", "empty", "list", "table-not-object"],
)
def test_corrupt_file_is_refused(tmp_path, content):
    path = tmp_path / "db.json"
    path.write_bytes(content)
    with pytest.raises(StorageError) as excinfo:
        TinyDBStore(path)
    assert str(path) in str(excinfo.value)
    assert path.read_bytes() == content  # never overwritten


@pytest.mark.parametrize(
    "content",
    [
        '{"entries": {"1": {"key": "a"}}}',
        '{"entries": {"x": {"k": "a", "v": 1}}}',
        '{"entries": {"1": {"k": "a", "v": 1}, "2": {"k": "a", "v": 2}}}',
    ],
    ids=["no-key", "bad-doc-id", "duplicate-key"],
)
def test_malformed_entry_is_refused(tmp_path, content):
    path = tmp_path / "db.json"
    path.write_text(content)
    with pytest.raises(StorageError, match="malformed entry"):
        TinyDBStore(path)


async def test_failed_write_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "db.json"
    store = TinyDBStore(path)
    await store.put("kept", 1)
    real_replace = os.replace

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files_module.os, "replace", disk_full)
    with pytest.raises(StorageError, match="No space left on device"):
        await store.put_many({"new": 2, "kept": None})
    monkeypatch.setattr(files_module.os, "replace", real_replace)
    assert await store.get("kept") == 1
    assert await store.get("new") is None
    assert await store.list() == ["kept"]
    await store.put("after", 3)
    await store.close()
    assert not path.with_name("db.json.tmp").exists()
    store = TinyDBStore(path)
    try:
        assert await store.list() == ["after", "kept"]
    finally:
        await store.close()


def test_atomic_storage_reads_the_file_once(tmp_path):
    path = tmp_path / "db.json"
    path.write_text('{"t": {"1": {"a": 1}}}')
    json_storage = AtomicJSONStorage(path)
    assert json_storage.read() == {"t": {"1": {"a": 1}}}
    path.write_text("not json any more")
    assert json_storage.read() == {"t": {"1": {"a": 1}}}
    json_storage.write({"t": {}})
    assert json.loads(path.read_text()) == {"t": {}}
    assert json_storage.writes == 1
