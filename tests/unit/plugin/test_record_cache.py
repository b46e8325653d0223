"""The engine keeps its parsed config and roles between requests, and drops them at writes."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from mount.sdk import BackendConfig, InvalidRequestError, Operation, Request, SecretRequest
from mount.sdk.testing import MemoryStorage
from plugin import factory
from plugin.models import CONFIG_KEY, ROLE_PREFIX, Config, Role


class CountingStorage(MemoryStorage):
    """Counts the reads of each key, as a mount's storage view would serve them."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[str] = Counter()

    async def get(self, key: str) -> Any | None:
        self.reads[key] += 1
        return await super().get(key)


CONFIG = Config(tenant_id="t-1", client_id="c-1", client_secret="s-1")
ALICE = Role(name="alice", user_principal_name="alice@example.test", object_id="oid-alice")


@pytest.fixture
async def engine():
    storage = CountingStorage()
    await storage.put(CONFIG_KEY, CONFIG.to_storage())
    await storage.put(ROLE_PREFIX + "alice", ALICE.to_storage())
    backend = await factory(
        BackendConfig(
            storage=storage,
            logger=logging.getLogger("tests.entra"),
            default_lease_ttl=timedelta(hours=1),
            max_lease_ttl=timedelta(hours=24),
            mount_point="entra/",
        )
    )
    yield backend, storage
    await backend.close()


async def call(backend, storage, op: Operation, path: str, data: dict | None = None):
    return await backend.handle(Request(operation=op, path=path, data=data or {}, storage=storage))


async def test_creds_reads_after_the_first_read_neither_config_nor_role_from_storage(engine):
    backend, storage = engine
    for _ in range(3):
        response = await call(backend, storage, Operation.READ, "creds/alice")
        assert response.secret.internal["object_id"] == "oid-alice"
    assert storage.reads[CONFIG_KEY] == 1
    assert storage.reads[ROLE_PREFIX + "alice"] == 1


async def test_a_renewal_reads_the_role_from_the_cache(engine):
    backend, storage = engine
    await backend.load_role(storage, "alice")
    before = storage.reads.copy()
    renewed = await backend.secrets["entra_password"].renew(
        SecretRequest(storage=storage, internal={"role": "alice", "object_id": "oid-alice"})
    )
    assert renewed is not None and renewed.ttl == timedelta(hours=1)
    assert storage.reads == before


async def test_a_role_write_and_a_config_delete_are_seen_by_the_next_creds_read(engine):
    backend, storage = engine
    first = await call(backend, storage, Operation.READ, "creds/alice")
    assert first.secret.ttl == timedelta(hours=1)
    # A role write needs Graph to resolve the user; written here the way role_write does.
    await backend.records.put(storage, ROLE_PREFIX + "alice", {**ALICE.to_storage(), "ttl": 600})
    second = await call(backend, storage, Operation.READ, "creds/alice")
    assert second.secret.ttl == timedelta(minutes=10)

    await call(backend, storage, Operation.DELETE, "config")
    with pytest.raises(InvalidRequestError, match="not configured"):
        await call(backend, storage, Operation.READ, "creds/alice")
    await backend.records.put(storage, CONFIG_KEY, CONFIG.to_storage())
    assert (await call(backend, storage, Operation.READ, "creds/alice")).secret is not None


async def test_another_storage_view_is_never_served_from_the_cache(engine):
    backend, storage = engine
    await backend.load_config(storage)
    other = CountingStorage()
    assert await backend.load_config(other) is None
    assert other.reads[CONFIG_KEY] == 1
