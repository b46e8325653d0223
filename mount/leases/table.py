"""The leases in memory: by id, by holder, counted per path and per mount, and their locks.

Every lookup a request makes is a dict read here; the scans (by token, by prefix) run
only for operations over many leases, which are rare.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable

from mount.leases.record import Lease, LeaseState

__all__ = ["LeaseTable"]


class LeaseTable:
    """The in-memory indexes of the leases; the storage is the lease journal's."""

    def __init__(self) -> None:
        self._leases: dict[str, Lease] = {}
        # Lease ids per holder; a tuple (48 bytes for one id) rather than a set (216):
        # a holder has one or two leases, and there are as many holders as leases.
        self._by_holder: dict[str, tuple[str, ...]] = {}
        self._per_path: dict[str, int] = defaultdict(int)
        self._per_mount: dict[str, int] = defaultdict(int)
        self._holder_locks: dict[str, asyncio.Lock] = {}
        self._lease_locks: dict[str, asyncio.Lock] = {}

    def get(self, lease_id: str) -> Lease | None:
        return self._leases.get(lease_id)

    def __getitem__(self, lease_id: str) -> Lease:
        return self._leases[lease_id]

    def __contains__(self, lease_id: str) -> bool:
        return lease_id in self._leases

    def __len__(self) -> int:
        return len(self._leases)

    def all(self) -> Iterable[Lease]:
        return self._leases.values()

    def remember(self, lease: Lease) -> None:
        lease_id = lease.lease_id
        if lease_id not in self._leases:
            self._per_path[lease.path] += 1
            self._per_mount[lease.mount] += 1
        self._leases[lease_id] = lease
        if lease.holder_key:
            held = self._by_holder.get(lease.holder_key, ())
            if lease_id not in held:
                self._by_holder[lease.holder_key] = (*held, lease_id)

    def forget(self, lease_id: str) -> None:
        lease = self._leases.pop(lease_id, None)
        self._lease_locks.pop(lease_id, None)
        if lease is None:
            return
        for counts, key in ((self._per_path, lease.path), (self._per_mount, lease.mount)):
            counts[key] -= 1
            if counts[key] <= 0:
                del counts[key]
        if lease.holder_key:
            held = tuple(
                lid for lid in self._by_holder.get(lease.holder_key, ()) if lid != lease_id
            )
            if held:
                self._by_holder[lease.holder_key] = held
            else:
                self._by_holder.pop(lease.holder_key, None)

    # -- indexes ------------------------------------------------------------------

    def held_by(self, holder: str) -> tuple[str, ...]:
        """The ids of the leases of one holder (the thing a credential controls)."""
        return self._by_holder.get(holder, ())

    def path_count(self, path: str) -> int:
        return self._per_path.get(path, 0)

    def mount_count(self, mount: str) -> int:
        return self._per_mount.get(mount, 0)

    def owned_by(self, accessor: str) -> list[Lease]:
        """The leases obtained with the token of this accessor."""
        return [lease for lease in self._leases.values() if lease.token_accessor == accessor]

    def irrevocable(self) -> list[Lease]:
        found = [le for le in self._leases.values() if le.state is LeaseState.IRREVOCABLE]
        return sorted(found, key=lambda le: (le.expire_time, le.lease_id))

    def matching(self, prefix: str) -> list[str]:
        """Lease ids under a prefix; a prefix that is itself a lease id matches just it."""
        prefix = prefix.rstrip("/")
        if prefix in self._leases:
            return [prefix]
        base = prefix + "/"
        return sorted(lid for lid in self._leases if lid.startswith(base))

    def list_keys(self, prefix: str) -> list[str]:
        """Direct children under `prefix` among all lease ids (Vault's LIST semantics)."""
        prefix = prefix.strip("/")
        prefix = prefix + "/" if prefix else ""
        keys: set[str] = set()
        for lease_id in self._leases:
            if not lease_id.startswith(prefix):
                continue
            rest = lease_id[len(prefix) :]
            head, sep, _ = rest.partition("/")
            keys.add(head + sep)
        return sorted(keys)

    def expire_times_under(self, prefix: str) -> list[float]:
        """When each lease whose id starts with `prefix` ends."""
        return [le.expire_time for lid, le in self._leases.items() if lid.startswith(prefix)]

    # -- locks --------------------------------------------------------------------

    def lease_lock(self, lease_id: str) -> asyncio.Lock:
        """Held by every change to one lease; dropped with the lease."""
        return self._lease_locks.setdefault(lease_id, asyncio.Lock())

    def holder_lock(self, holder: str) -> asyncio.Lock:
        """Held by an issue and a revoke for one holder, so that they never interleave."""
        return self._holder_locks.setdefault(holder, asyncio.Lock())
