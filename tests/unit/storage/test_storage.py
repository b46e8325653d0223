"""The Storage protocol, kept alike by every store and by views (mount/storage/)."""

import pytest

from mount.sdk.logical import Storage
from mount.sdk.storage import StorageError
from mount.storage.barrier import Barrier
from mount.storage.log import LogStore
from mount.storage.memory import MemoryStore
from mount.storage.open import open_store
from mount.storage.views import ParentReferenceError, StorageView


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
