"""The embedded store: semantics, sealing, crash safety, group commit (mount/storage/store.py)."""

import asyncio
import json
import os
import random
import selectors
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mount.sdk.logical import Storage
from mount.storage import log as logstore_module
from mount.storage import store as storage_module
from mount.storage.barrier import Barrier, BarrierError
from mount.storage.log import LogStore
from mount.storage.open import open_store
from mount.storage.split import SplitStore
from mount.storage.store import (
    AtomicJSONStorage,
    MemoryStore,
    ParentReferenceError,
    StorageError,
    StorageView,
    TinyDBStore,
)
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def key():
    return os.urandom(32)


@pytest.fixture(
    params=[
        "memory",
        "tinydb",
        "tinydb-sealed",
        "tinydb-sealed-leases",
        "log",
        "log-sealed",
        "log-sealed-cold",
    ]
)
async def store(request, tmp_path, key):
    if request.param == "memory":
        made = MemoryStore()
    elif request.param == "log-sealed-cold":
        # Every value kept on disk, read back on the worker thread (leases in production).
        made = LogStore(tmp_path / "db.log", Barrier(key), cold_prefixes=("",))
    elif request.param == "tinydb-sealed-leases":
        # The default store's other half: keys under sys/expire/ go to its log file.
        split = open_store("tinydb", tmp_path / "db.json", Barrier(key))
        yield split.view("sys/expire/")
        await split.close()
        return
    else:
        kind = request.param.removesuffix("-sealed")
        sealed = request.param.endswith("-sealed")
        made = open_store(kind, tmp_path / "db.json", Barrier(key) if sealed else None)
    yield made
    await made.close()


# -- the Storage protocol ---------------------------------------------------------------


async def test_missing_key_reads_none_and_deletes_quietly(store):
    assert await store.get("nope") is None
    await store.delete("nope")
    assert await store.list() == []


async def test_put_get_overwrite_delete(store):
    await store.put("config", {"tenant_id": "t", "n": [1, 2.5, None, True]})
    assert await store.get("config") == {"tenant_id": "t", "n": [1, 2.5, None, True]}
    await store.put("config", "plain string")
    assert await store.get("config") == "plain string"
    await store.put("zero", 0)
    assert await store.get("zero") == 0
    await store.delete("config")
    assert await store.get("config") is None
    assert await store.list() == ["zero"]


async def test_values_are_copies(store):
    value = {"roles": ["a"]}
    await store.put("k", value)
    value["roles"].append("mutated after put")
    got = await store.get("k")
    got["roles"].append("mutated after get")
    assert await store.get("k") == {"roles": ["a"]}


async def test_value_that_is_not_json_is_refused(store):
    with pytest.raises(StorageError, match="storage key (sys/expire/)?k is not JSON"):
        await store.put("k", {"when": object()})
    assert await store.get("k") is None


async def test_list_gives_direct_children_with_folders(store):
    for key in ["a", "b/c", "b/d/e", "b/d/f", "b/d/g/h", "c/x", "é", "Z", "a-1", "a/x", "a0"]:
        await store.put(key, 1)
    assert await store.list() == ["Z", "a", "a-1", "a/", "a0", "b/", "c/", "é"]
    assert await store.list("b/") == ["c", "d/"]
    assert await store.list("b/d/") == ["e", "f", "g/"]
    assert await store.list("b/d/g/") == ["h"]
    assert await store.list("missing/") == []
    await store.delete("b/c")
    assert await store.list("b/") == ["d/"]


async def test_list_is_sorted_in_byte_order(store):
    keys = ["b", "B", "a/", "a.b", "a-b", "~", "ä", "1"]
    for key in keys:
        await store.put(f"p/{key}x", 1)
    listed = await store.list("p/")
    assert listed == sorted(listed, key=lambda s: s.encode("utf-8"))
    assert len(listed) == len(set(listed)) == len(keys)


async def test_put_many_puts_and_deletes_together(store):
    await store.put_many({"a": 1, "b": 2})
    await store.put_many({"a": None, "b": 3, "c": {"x": 1}})
    assert await store.get("a") is None
    assert await store.get("b") == 3
    assert await store.get("c") == {"x": 1}
    await store.put_many({})


async def test_views_scope_and_nest(store):
    entra = store.view("logical/entra/")
    await entra.put("config", {"tenant_id": "t"})
    await entra.put("roles/alice", {"ttl": 60})
    await entra.put_many({"roles/bob": {"ttl": 1}, "roles/carol": {"ttl": 2}})
    roles = entra.view("roles/")
    assert isinstance(roles, StorageView)
    assert roles.prefix == getattr(store, "prefix", "") + "logical/entra/roles/"
    await roles.delete("carol")
    assert await store.get("logical/entra/config") == {"tenant_id": "t"}
    assert await store.list() == ["logical/"]
    assert await store.list("logical/") == ["entra/"]
    assert await entra.list() == ["config", "roles/"]
    assert await entra.list("roles/") == ["alice", "bob"]
    assert await roles.list() == ["alice", "bob"]
    assert await roles.get("bob") == {"ttl": 1}
    assert await store.view("logical/other/").list() == []
    assert await store.view("logical/other/").get("config") is None


async def test_view_refuses_keys_that_climb_out(store):
    view = store.view("logical/entra/")
    # The caller's fault (a name or id with ".."): a 400, not a storage failure.
    with pytest.raises(ParentReferenceError, match=r"cannot contain parent references") as caught:
        await view.get("../../sys/token")
    assert caught.value.status == 400


def test_stores_and_views_conform_to_the_protocol(tmp_path):
    memory: Storage = MemoryStore()
    view: Storage = MemoryStore().view("x/")
    assert memory and view


# -- the files: contracts both file stores keep ------------------------------------

STORE_KINDS = pytest.mark.parametrize("kind", ["tinydb", "log"])


def open_kind(kind, path, barrier=None):
    return open_store(kind, path, barrier)


@STORE_KINDS
async def test_data_survives_reopen(tmp_path, key, kind):
    path = tmp_path / "db.json"
    store = open_kind(kind, path, Barrier(key))
    await store.put("sys/token/id/abc", {"policies": ["root"]})
    await store.view("logical/entra/").put("config", {"tenant_id": "t"})
    await store.close()
    store = open_kind(kind, path, Barrier(key))
    try:
        assert await store.get("sys/token/id/abc") == {"policies": ["root"]}
        assert await store.view("logical/entra/").get("config") == {"tenant_id": "t"}
        assert await store.list() == ["logical/", "sys/"]
    finally:
        await store.close()


@STORE_KINDS
async def test_file_is_private(tmp_path, kind):
    path = tmp_path / "db.json"
    store = open_kind(kind, path)
    await store.put("k", 1)
    await store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@STORE_KINDS
async def test_missing_directory_is_created(tmp_path, kind):
    store = open_kind(kind, tmp_path / "a" / "b" / "db.json")
    await store.put("k", 1)
    await store.close()
    assert (tmp_path / "a" / "b" / "db.json").exists()


@STORE_KINDS
async def test_sealed_file_holds_no_plaintext_values(tmp_path, key, kind):
    path = tmp_path / "db.json"
    store = open_kind(kind, path, Barrier(key))
    await store.put("logical/entra/config", {"client_secret": "s3cr3t-value"})
    await store.put_many({"logical/entra/roles/alice": {"user_principal_name": "alice@x.test"}})
    await store.close()
    raw = path.read_bytes()
    assert b"s3cr3t-value" not in raw
    assert b"client_secret" not in raw
    assert b"alice@x.test" not in raw
    assert b"logical/entra/config" in raw  # key names stay readable


@STORE_KINDS
async def test_unsealed_file_is_plain_json(tmp_path, kind):
    path = tmp_path / "db.json"
    store = open_kind(kind, path)
    await store.put("k", {"visible": True})
    await store.close()
    assert b'"visible":true' in path.read_bytes()


async def test_sealed_value_moved_to_another_key_is_refused(tmp_path, key):
    path = tmp_path / "db.json"
    store = TinyDBStore(path, Barrier(key))
    await store.put("config", {"client_secret": "a"})
    await store.put("roles/alice", {"ttl": 1})
    await store.close()
    document = json.loads(path.read_text())
    entries = {doc["k"]: doc for doc in document["entries"].values()}
    entries["roles/alice"]["v"] = entries["config"]["v"]
    path.write_text(json.dumps(document))
    store = TinyDBStore(path, Barrier(key))
    try:
        assert await store.get("config") == {"client_secret": "a"}
        with pytest.raises(BarrierError, match="cannot decrypt storage entry roles/alice"):
            await store.get("roles/alice")
    finally:
        await store.close()


@STORE_KINDS
async def test_wrong_seal_key_is_refused(tmp_path, key, kind):
    path = tmp_path / "db.json"
    store = open_kind(kind, path, Barrier(key))
    await store.put("k", 1)
    await store.close()
    with pytest.raises(StorageError) as excinfo:
        open_kind(kind, path, Barrier(os.urandom(32)))
    assert str(excinfo.value) == (
        "the seal key does not match the one this storage was created with; set "
        "ENTRA_BROKER_SEAL_KEY or the key file back to the original key"
    )


@STORE_KINDS
async def test_sealed_file_needs_a_key_and_plain_file_refuses_one(tmp_path, key, kind):
    sealed, plain = tmp_path / "sealed.json", tmp_path / "plain.json"
    for path, barrier in ((sealed, Barrier(key)), (plain, None)):
        store = open_kind(kind, path, barrier)
        await store.put("k", 1)
        await store.close()
    with pytest.raises(StorageError, match="a seal key is required"):
        open_kind(kind, sealed)
    with pytest.raises(StorageError, match="created without a seal key"):
        open_kind(kind, plain, Barrier(key))


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


@STORE_KINDS
async def test_a_second_opener_is_refused_until_the_first_closes(tmp_path, kind):
    path = tmp_path / "db.json"
    first = open_kind(kind, path)
    with pytest.raises(StorageError, match="is in use by another entra-broker process"):
        open_kind(kind, path)
    await first.close()
    second = open_kind(kind, path)
    await second.close()


@STORE_KINDS
async def test_closed_store_refuses_calls(tmp_path, kind):
    store = open_kind(kind, tmp_path / "db.json")
    await store.close()
    await store.close()
    with pytest.raises(StorageError, match="is closed"):
        await store.get("k")
    with pytest.raises(StorageError, match="is closed"):
        await store.put("k", 1)


async def test_failed_write_changes_nothing(tmp_path, monkeypatch):
    path = tmp_path / "db.json"
    store = TinyDBStore(path)
    await store.put("kept", 1)
    real_replace = os.replace

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(storage_module.os, "replace", disk_full)
    with pytest.raises(StorageError, match="No space left on device"):
        await store.put_many({"new": 2, "kept": None})
    monkeypatch.setattr(storage_module.os, "replace", real_replace)
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


# -- crash safety ---------------------------------------------------------------------

_CHILD = """
import asyncio, sys
from pathlib import Path
from mount.storage.barrier import Barrier
from mount.storage.open import open_store

async def main():
    path, key, start = Path(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3])
    store = open_store(sys.argv[4], path, Barrier(key))
    if start == 0:
        # Padding makes each file write long enough for kills to land inside writes.
        await store.put_many({f"pad/{i:05d}": "x" * 100 for i in range(3000)})
    i = start
    while True:
        await store.put(f"k/{i:06d}", {"i": i})
        sys.stdout.write(f"{i}\\n")
        sys.stdout.flush()
        i += 1

asyncio.run(main())
"""


def _read_progress(proc: subprocess.Popen, want: int, timeout: float) -> int:
    """Read the child's "<i>" lines until `want` have arrived; returns the last index."""
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    buffer, seen, last = b"", 0, -1
    deadline = time.monotonic() + timeout
    try:
        while seen < want:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AssertionError(f"child reported {seen}/{want} puts within {timeout}s")
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                raise AssertionError(f"child exited early: {proc.wait()} {proc.stderr.read()!r}")
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                last = int(line)
                seen += 1
    finally:
        selector.close()
    return last


@STORE_KINDS
def test_kill_9_during_writes_leaves_a_whole_prefix(tmp_path, key, kind):
    path = tmp_path / "db.json"
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    next_index = 0
    for round_ in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(path), key.hex(), str(next_index), kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        try:
            confirmed = _read_progress(proc, rng.randint(1, 40), timeout=60)
            time.sleep(rng.uniform(0, 0.01))  # a random moment, not a wait for anything
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL, f"round {round_}"

        async def check(confirmed: int = confirmed) -> int:
            store = open_store(kind, path, Barrier(key))
            try:
                names = await store.list("k/")
                indices = sorted(int(name) for name in names)
                # A prefix of the writes: no gap, every confirmed put present, correct values.
                assert indices == list(range(len(indices)))
                assert len(indices) >= confirmed + 1
                for i in (0, confirmed, len(indices) - 1):
                    assert await store.get(f"k/{i:06d}") == {"i": i}
                assert len(await store.list("pad/")) == 3000
                return len(indices)
            finally:
                await store.close()

        next_index = asyncio.run(check())
    assert next_index >= 10


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
        assert await store.list(prefix) == storage_module._children(keys, prefix), prefix
    await store.delete(sorted(keys)[0])
    assert await store.list("") == storage_module._children(set(keys) - {sorted(keys)[0]}, "")
    await store.close()
