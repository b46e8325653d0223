"""The default store's split: configuration in TinyDB, leases and tokens in a log beside it
(mount/storage/split.py)."""

import json
import os

import pytest

from mount.storage.barrier import Barrier, BarrierError
from mount.storage.log import LogStore
from mount.storage.split import SplitStore, leases_path
from mount.storage.store import StorageError, TinyDBStore

LEASE = "sys/expire/id/entra/creds/alice/abc"
TOKEN = "sys/token/id/0123abcd"
POLICY = "sys/policy/dev"
ROLE = "logical/entra/roles/alice"


@pytest.fixture
def key():
    return os.urandom(32)


async def test_leases_and_tokens_go_to_the_log_and_the_rest_to_tinydb(tmp_path, key):
    path = tmp_path / "broker.json"
    store = SplitStore(path, Barrier(key))
    for stored in (LEASE, TOKEN, POLICY, ROLE):
        await store.put(stored, {"name": stored})
    await store.close()

    tinydb_keys = {doc["k"] for doc in json.loads(path.read_text())["entries"].values()}
    assert tinydb_keys == {POLICY, ROLE}
    log_text = leases_path(path).read_text()
    assert LEASE in log_text and TOKEN in log_text
    assert POLICY not in log_text and ROLE not in log_text

    store = SplitStore(path, Barrier(key))
    try:
        for stored in (LEASE, TOKEN, POLICY, ROLE):
            assert await store.get(stored) == {"name": stored}
    finally:
        await store.close()


async def test_lists_merge_the_two_files_where_their_folders_meet(tmp_path):
    store = SplitStore(tmp_path / "broker.json")
    try:
        for stored in (LEASE, TOKEN, POLICY, ROLE, "sys/token-like", "sys/audit/file"):
            await store.put(stored, 1)
        assert await store.list() == ["logical/", "sys/"]
        assert await store.list("sys/") == ["audit/", "expire/", "policy/", "token-like", "token/"]
        assert await store.list("sys/expire/id/entra/creds/alice/") == ["abc"]
        assert await store.view("sys/").list("token/id/") == ["0123abcd"]
        assert await store.list("logical/entra/roles/") == ["alice"]
        await store.delete(LEASE)
        assert await store.list("sys/") == ["audit/", "policy/", "token-like", "token/"]
    finally:
        await store.close()


async def test_a_batch_mixing_the_two_files_is_refused_and_writes_nothing(tmp_path):
    store = SplitStore(tmp_path / "broker.json")
    try:
        with pytest.raises(StorageError, match="cannot mix lease or token keys with other keys"):
            await store.put_many({LEASE: 1, ROLE: 2})
        assert await store.get(LEASE) is None and await store.get(ROLE) is None
        await store.put_many({LEASE: 1, TOKEN: 2})  # one file: fine
        assert await store.get(TOKEN) == 2
    finally:
        await store.close()


async def test_leases_in_a_tinydb_only_file_move_to_the_log(tmp_path, key):
    path = tmp_path / "broker.json"
    old = TinyDBStore(path, Barrier(key))  # a file written before the split
    await old.put_many({LEASE: {"a": 1}, TOKEN: {"b": 2}, ROLE: {"c": 3}})
    await old.close()

    store = SplitStore(path, Barrier(key))
    try:
        assert await store.get(LEASE) == {"a": 1}
        assert await store.get(TOKEN) == {"b": 2}
        assert await store.get(ROLE) == {"c": 3}
        assert await store.config_store.list("sys/") == []
        assert await store.log_store.list("sys/") == ["expire/", "token/"]
    finally:
        await store.close()


async def test_a_move_cut_short_is_finished_by_the_next_open(tmp_path, key):
    path = tmp_path / "broker.json"
    old = TinyDBStore(path, Barrier(key))
    await old.put_many({LEASE: {"renewed": True}, ROLE: {"c": 3}})
    await old.close()
    # The crash came after the log got its copy and before TinyDB dropped its own.
    log = LogStore(leases_path(path), Barrier(key))
    await log.put(LEASE, {"renewed": True})
    await log.close()

    store = SplitStore(path, Barrier(key))
    try:
        assert await store.get(LEASE) == {"renewed": True}
        assert await store.config_store.get(LEASE) is None
        assert await store.list("sys/expire/id/entra/creds/alice/") == ["abc"]
    finally:
        await store.close()


async def test_a_log_sealed_by_another_key_is_refused(tmp_path, key):
    path = tmp_path / "broker.json"
    other = LogStore(leases_path(path), Barrier(os.urandom(32)))
    await other.put(LEASE, 1)
    await other.close()
    with pytest.raises((StorageError, BarrierError)):
        SplitStore(path, Barrier(key))
    # The failed open let go of the TinyDB file: it opens again at once.
    again = TinyDBStore(path, Barrier(key))
    await again.close()


async def test_an_unopenable_log_releases_the_tinydb_file(tmp_path):
    path = tmp_path / "broker.json"
    leases_path(path).mkdir()
    with pytest.raises((StorageError, OSError)):
        SplitStore(path)
    again = TinyDBStore(path)
    await again.close()


async def test_lease_and_token_writes_cost_the_same_whatever_the_count(tmp_path, key):
    """The regression guard for the default store: bytes written per lease or token put
    do not grow with the number stored, and such puts never rewrite the TinyDB file."""
    path = tmp_path / "broker.json"
    store = SplitStore(path, Barrier(key))
    await store.put(ROLE, {"ttl": 60})
    files = (path, leases_path(path))
    written = []
    for size in (100, 10_000):
        await store.put_many({f"{LEASE}-{size}-{i:06d}": {"i": i} for i in range(size)})
        tinydb_writes = store.config_store.json_storage.writes
        before = sum(f.stat().st_size for f in files)
        for i in range(20):
            await store.put(f"{LEASE}-probe-{size}-{i:03d}", {"i": i})
            await store.put(f"{TOKEN}-probe-{size}-{i:03d}", {"i": i})
        written.append((sum(f.stat().st_size for f in files) - before) / 40)
        assert store.config_store.json_storage.writes == tinydb_writes
    await store.close()
    assert written[1] <= written[0] * 1.1, written


async def test_a_used_file_whose_lease_log_is_missing_is_refused(tmp_path, key):
    path = tmp_path / "broker.json"
    store = SplitStore(path, Barrier(key))
    await store.put_many({TOKEN: {"root": True}})
    await store.put(POLICY, {"rules": ""})
    await store.close()
    leases_path(path).unlink()

    with pytest.raises(StorageError) as refused:
        SplitStore(path, Barrier(key))
    assert str(refused.value) == (
        f"the lease log {leases_path(path)} of the storage {path} is missing: it holds the "
        "leases and the tokens, the root token's included; restore it from your backup, or "
        "move broker.json away to start with empty storage"
    )
    assert not leases_path(path).exists()
    # The refusal let go of the TinyDB file, and left it as it was.
    again = TinyDBStore(path, Barrier(key))
    try:
        assert await again.get(POLICY) == {"rules": ""}
    finally:
        await again.close()


async def test_a_lease_log_without_its_tinydb_file_is_refused(tmp_path, key):
    path = tmp_path / "broker.json"
    store = SplitStore(path, Barrier(key))
    await store.put(TOKEN, {"root": True})
    await store.close()
    path.unlink()

    with pytest.raises(StorageError, match="broker.json is missing but its lease log"):
        SplitStore(path, Barrier(key))
    assert not path.exists()


async def test_an_opened_but_unused_file_gets_its_lease_log(tmp_path, key):
    # A first start cut short after TinyDB wrote its header and before the log existed.
    path = tmp_path / "broker.json"
    TinyDBStore(path, Barrier(key)).close_now()
    store = SplitStore(path, Barrier(key))
    await store.close()
    assert leases_path(path).exists()
