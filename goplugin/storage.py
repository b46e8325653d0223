"""mount.sdk's Storage over OpenBao's `pb.Storage`, reached through the broker.

Values are JSON, stored as compact UTF-8 bytes: OpenBao keeps them in its own
barrier (encrypted, replicated by Raft), so our host adds no encryption of its own.
"""

from __future__ import annotations

import json
from typing import Any

from grpclib.client import Channel

from goplugin.proto import backend_grpc, backend_pb2
from mount.sdk import UnavailableError

__all__ = ["BrokerStorage", "StorageError", "SystemView"]

# Seconds one storage call may take (Raft commits included) before it fails.
CALL_TIMEOUT = 30.0


class StorageError(UnavailableError):
    """OpenBao's storage answered an error (sealed, standby, Raft without quorum)."""


def _checked(err: str, what: str, key: str) -> None:
    if err:
        raise StorageError(f"OpenBao storage {what} of {key!r} failed: {err}")


class BrokerStorage:
    """One mount's view of OpenBao storage (keys relative to the mount)."""

    def __init__(self, channel: Channel) -> None:
        self._stub = backend_grpc.StorageStub(channel)

    async def get(self, key: str) -> Any | None:
        reply = await self._stub.Get(backend_pb2.StorageGetArgs(key=key), timeout=CALL_TIMEOUT)
        _checked(reply.err, "read", key)
        if not reply.HasField("entry"):
            return None
        return json.loads(reply.entry.value)

    async def put(self, key: str, value: Any) -> None:
        body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        entry = backend_pb2.StorageEntry(key=key, value=body)
        reply = await self._stub.Put(backend_pb2.StoragePutArgs(entry=entry), timeout=CALL_TIMEOUT)
        _checked(reply.err, "write", key)

    async def delete(self, key: str) -> None:
        reply = await self._stub.Delete(
            backend_pb2.StorageDeleteArgs(key=key), timeout=CALL_TIMEOUT
        )
        _checked(reply.err, "delete", key)

    async def list(self, prefix: str = "") -> list[str]:
        reply = await self._stub.List(
            backend_pb2.StorageListArgs(prefix=prefix), timeout=CALL_TIMEOUT
        )
        _checked(reply.err, "list", prefix)
        return sorted(reply.keys)


class SystemView:
    """The mount's TTL limits as OpenBao has them (its `pb.SystemView`)."""

    def __init__(self, channel: Channel) -> None:
        self._stub = backend_grpc.SystemViewStub(channel)

    async def default_lease_ttl(self) -> int:
        """Seconds."""
        reply = await self._stub.DefaultLeaseTTL(backend_pb2.Empty(), timeout=CALL_TIMEOUT)
        return reply.TTL // 1_000_000_000

    async def max_lease_ttl(self) -> int:
        """Seconds."""
        reply = await self._stub.MaxLeaseTTL(backend_pb2.Empty(), timeout=CALL_TIMEOUT)
        return reply.TTL // 1_000_000_000
