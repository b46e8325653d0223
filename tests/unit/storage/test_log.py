"""The log store: appends, torn tails, cold values, compaction (mount/storage/log.py)."""

import asyncio
import json
import random

import pytest

from mount.sdk.storage import StorageError, list_children
from mount.storage import log as logstore_module
from mount.storage.barrier import Barrier
from mount.storage.log import LogStore

# -- the log store: appends, torn tails, compaction ------------------------------------


async def test_log_put_appends_one_line_whatever_the_size(tmp_path, key):
    """The regression guard for flat write cost: bytes written per put do not grow."""
    store = LogStore(tmp_path / "db.log", Barrier(key))
    written = []
    for size in (100, 10_000):
        await store.put_many({f"fill/{size}/{i:06d}": {"i": i} for i in range(size)})
        before = store.path.stat().st_size
        for i in range(20):
            await store.put(f"probe/{size}/{i:03d}", {"i": i})
        written.append((store.path.stat().st_size - before) / 20)
    await store.close()
    assert written[1] <= written[0] * 1.1, written


async def test_log_concurrent_puts_share_appends_and_are_durable(tmp_path):
    path = tmp_path / "db.log"
    store = LogStore(path)
    before = store.appends
    await asyncio.gather(*(store.put(f"k/{i:03d}", {"i": i}) for i in range(200)))
    assert 1 <= store.appends - before < 200
    lines = path.read_text().splitlines()
    on_disk = {k for line in lines[1:] for k in json.loads(line)["w"]}
    assert on_disk == {f"k/{i:03d}" for i in range(200)}
    await store.close()


async def test_log_torn_last_line_is_ignored_and_cut(tmp_path, key):
    path = tmp_path / "db.log"
    store = LogStore(path, Barrier(key))
    await store.put("kept", 1)
    await store.close()
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"w":{"torn":"v1:abc')
    store = LogStore(path, Barrier(key))
    try:
        assert await store.get("kept") == 1
        assert await store.get("torn") is None
        assert path.read_bytes() == whole  # the next append starts on a clean line
        await store.put("after", 2)
    finally:
        await store.close()
    store = LogStore(path, Barrier(key))
    try:
        assert await store.list() == ["after", "kept"]
    finally:
        await store.close()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json\n",
        b'{"format": "something-else"}\n',
        b'{"format":"entra-broker-log","version":1,"seal_fingerprint":null}\nnot json\n{"w":{}}\n',
        b'{"format":"entra-broker-log","version":1,"seal_fingerprint":null}\n{"w":3}\n',
    ],
    ids=["empty", "header-not-json", "other-format", "middle-line-corrupt", "w-not-object"],
)
def test_log_corrupt_file_is_refused(tmp_path, content):
    path = tmp_path / "db.log"
    path.write_bytes(content)
    with pytest.raises(StorageError) as excinfo:
        LogStore(path)
    assert str(path) in str(excinfo.value)
    assert path.read_bytes() == content  # never overwritten


async def test_log_cold_values_read_back_in_order_across_compaction_and_reopen(tmp_path, key):
    path = tmp_path / "db.log"
    entries = {f"sys/expire/id/r{i % 3}/l{i:04d}": {"i": i} for i in range(1200)}

    async def reads_all_in_key_order(store: LogStore) -> int:
        before = store.cold_reads
        for name in sorted(entries):
            assert await store.get(name) == entries[name]
        return store.cold_reads - before

    store = LogStore(path, Barrier(key), compact_factor=1.2, compact_min_bytes=20_000)
    await store.put_many(entries)
    await store.put("config", {"hot": True})
    assert await reads_all_in_key_order(store) <= 5  # read ahead, not one hop a value
    for round_ in range(40):  # churn until the file is compacted under the cold values
        await store.put_many({f"sys/expire/id/churn/{i:02d}": {"r": round_} for i in range(20)})
        await store.put_many({f"sys/expire/id/churn/{i:02d}": None for i in range(20)})
    assert store.compactions >= 1
    assert await store.get("sys/expire/id/r1/l0007") == {"i": 7}
    await store.put("sys/expire/id/r1/l0007", {"i": "new"})
    entries["sys/expire/id/r1/l0007"] = {"i": "new"}
    assert await reads_all_in_key_order(store) <= 5
    await store.close()
    store = LogStore(path, Barrier(key))
    try:
        assert await reads_all_in_key_order(store) <= 5
        assert await store.get("config") == {"hot": True}
        assert await store.list("sys/expire/id/") == ["r0/", "r1/", "r2/"]
    finally:
        await store.close()


async def test_log_compacts_when_the_log_outgrows_the_data(tmp_path, key):
    path = tmp_path / "db.log"
    store = LogStore(path, Barrier(key), compact_factor=2.0, compact_min_bytes=20_000)
    await store.put_many({f"keep/{i:03d}": {"i": i} for i in range(100)})
    for round_ in range(30):
        await store.put_many({f"churn/{i:02d}": {"round": round_} for i in range(20)})
        await store.put_many({f"churn/{i:02d}": None for i in range(20)})
    assert store.compactions >= 1
    assert path.stat().st_size < 2.5 * 20_000
    await store.close()
    store = LogStore(path, Barrier(key))
    try:
        assert await store.list() == ["keep/"]
        assert len(await store.list("keep/")) == 100
        assert await store.get("keep/099") == {"i": 99}
    finally:
        await store.close()


async def test_log_failed_append_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "db.log"
    store = LogStore(path)
    await store.put("kept", 1)
    size = path.stat().st_size

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(logstore_module.os, "fsync", disk_full)
    with pytest.raises(StorageError, match="No space left on device"):
        await store.put_many({"new": 2, "kept": None})
    monkeypatch.undo()
    assert path.stat().st_size == size
    assert await store.get("kept") == 1
    assert await store.get("new") is None
    await store.put("after", 3)
    await store.close()
    store = LogStore(path)
    try:
        assert await store.list() == ["after", "kept"]
    finally:
        await store.close()


async def test_log_list_matches_a_full_scan(tmp_path):
    rng = random.Random(5)
    alphabet = "ab/-.0z"
    keys = {"".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6))) for _ in range(400)}
    keys = {k for k in keys if not k.startswith("/")}
    store = LogStore(tmp_path / "db.log")
    await store.put_many({k: 1 for k in keys})
    for prefix in ["", "a", "a/", "b/", "a/b/", "z", "ab/-/", "nope/"]:
        assert await store.list(prefix) == list_children(keys, prefix), prefix
    await store.delete(sorted(keys)[0])
    assert await store.list("") == list_children(set(keys) - {sorted(keys)[0]}, "")
    await store.close()
