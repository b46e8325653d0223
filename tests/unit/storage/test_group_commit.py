"""Group commit: concurrent writes share durable writes (mount/storage/group_commit.py)."""

import asyncio
import json
import threading

import pytest

from mount.storage.split import SplitStore
from mount.storage.tinydb import TinyDBStore
from tests.unit.storage.kinds import STORE_KINDS, open_kind
from tests.waiting import wait_until

# -- group commit ---------------------------------------------------------------------


async def test_concurrent_puts_share_file_writes_and_are_durable(tmp_path, key):
    path = tmp_path / "db.json"
    store = TinyDBStore(path)
    before = store.json_storage.writes
    await asyncio.gather(*(store.put(f"k/{i:03d}", {"i": i}) for i in range(200)))
    writes = store.json_storage.writes - before
    assert 1 <= writes < 200
    # Every put has returned, so the file on disk, read by another reader, holds them all.
    on_disk = json.loads(path.read_text())
    assert {doc["k"] for doc in on_disk["entries"].values()} == {f"k/{i:03d}" for i in range(200)}
    await store.close()


async def test_puts_during_a_write_coalesce_into_the_next_write(tmp_path):
    store = TinyDBStore(tmp_path / "db.json")
    release = threading.Event()
    # Hold the worker thread, as a slow disk would, while the first write is queued.
    blocker = asyncio.get_running_loop().run_in_executor(store._executor, release.wait, 10)
    before = store.json_storage.writes
    first = asyncio.create_task(store.put("first", 0))
    await wait_until(lambda: store._commits.writing)
    rest = [asyncio.create_task(store.put(f"k{i}", i)) for i in range(50)]
    await wait_until(lambda: store._commits.waiting == 50)
    assert not any(task.done() for task in [first, *rest])
    release.set()
    await blocker
    await asyncio.gather(first, *rest)
    assert store.json_storage.writes - before == 2
    assert await store.get("k49") == 49
    await store.close()


@STORE_KINDS
async def test_cancelled_put_is_still_written_once(tmp_path, kind):
    path = tmp_path / "db.json"
    store = open_kind(kind, path)
    file_store = store.config_store if isinstance(store, SplitStore) else store  # "k" is there
    release = threading.Event()
    blocker = asyncio.get_running_loop().run_in_executor(file_store._executor, release.wait, 10)
    task = asyncio.create_task(store.put("k", "v"))
    await wait_until(lambda: file_store._commits.writing)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    release.set()
    await blocker
    await store.close()
    store = open_kind(kind, path)
    try:
        assert await store.get("k") == "v"
    finally:
        await store.close()


@STORE_KINDS
async def test_later_put_to_the_same_key_wins_within_a_batch(tmp_path, kind):
    store = open_kind(kind, tmp_path / "db.json")
    await asyncio.gather(store.put("k", 1), store.put("k", 2), store.delete("j"), store.put("j", 3))
    assert await store.get("k") == 2
    assert await store.get("j") == 3
    await store.close()
