"""mount.sdk.testing.MemoryStorage keeps the Storage contract a real store keeps."""

import pytest

from mount.sdk.storage import BatchStorage, StorageError
from mount.sdk.testing import MemoryStorage


async def test_a_missing_key_reads_none_and_deletes_quietly():
    storage = MemoryStorage()
    assert await storage.get("nope") is None
    await storage.delete("nope")
    assert await storage.list() == []


async def test_values_are_json_copies_both_ways():
    storage = MemoryStorage()
    value = {"roles": ["a"], "ttl": 1.5}
    await storage.put("k", value)
    value["roles"].append("changed after put")
    got = await storage.get("k")
    got["roles"].append("changed after get")
    assert await storage.get("k") == {"roles": ["a"], "ttl": 1.5}


async def test_what_a_store_refuses_is_refused_and_nothing_of_the_batch_applies():
    storage = MemoryStorage()
    with pytest.raises(StorageError, match="storage key bad is not JSON"):
        await storage.put_many({"good": 1, "bad": float("nan")})
    with pytest.raises(StorageError, match="non-empty string"):
        await storage.put("", 1)
    assert storage.keys() == []


async def test_list_gives_direct_children_sorted_with_folders():
    storage = MemoryStorage()
    await storage.put_many({"roles/b": 1, "roles/a/x": 2, "config": 3, "roles": 4})
    assert await storage.list() == ["config", "roles", "roles/"]
    assert await storage.list("roles/") == ["a/", "b"]
    await storage.put_many({"roles/b": None, "roles/c": 5})
    assert await storage.list("roles/") == ["a/", "c"]
    assert storage.keys() == ["config", "roles", "roles/a/x", "roles/c"]


def test_it_is_a_batch_storage():
    storage: BatchStorage = MemoryStorage()
    assert hasattr(storage, "put_many")
