"""Contracts both file stores keep: durability, privacy, sealing, locking, crash safety
(mount/storage/files.py and the stores on it)."""

import asyncio
import json
import os
import random
import selectors
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mount.sdk.storage import StorageError
from mount.storage.barrier import Barrier, BarrierError
from mount.storage.open import open_store
from mount.storage.tinydb import TinyDBStore
from tests.unit.storage.kinds import STORE_KINDS, open_kind

ROOT = Path(__file__).resolve().parents[3]


# -- the files: contracts both file stores keep ------------------------------------


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
