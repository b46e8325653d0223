"""The server's seal: whether requests are served, and the unseal key check.

Sealing stops the API at once (the core refuses every request but the few that report
status) and pauses the expiry workers; unsealing with the seal key resumes both. The
key is never held here: only its public fingerprint (mount.storage.barrier), compared
in constant time with the fingerprint of the key an operator submits.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable

__all__ = ["Seal"]


class Seal:
    """Sealed or not; `wait_unsealed` blocks the background workers while sealed."""

    def __init__(
        self, fingerprint: str | None, fingerprint_of: Callable[[bytes], str] | None = None
    ) -> None:
        # None: the storage is not encrypted, so there is no key to unseal with.
        self.fingerprint = fingerprint
        self._fingerprint_of = fingerprint_of
        self._unsealed = asyncio.Event()
        self._unsealed.set()
        # When the key was installed: this process's start (sys/key-status).
        self.install_time = time.time()

    @property
    def sealed(self) -> bool:
        return not self._unsealed.is_set()

    @property
    def can_unseal(self) -> bool:
        return self.fingerprint is not None and self._fingerprint_of is not None

    def seal(self) -> None:
        self._unsealed.clear()

    def matches(self, key: bytes) -> bool:
        """Whether `key` is the seal key, compared in constant time."""
        if self.fingerprint is None or self._fingerprint_of is None:
            return False
        return hmac.compare_digest(self._fingerprint_of(key), self.fingerprint)

    def unseal(self) -> None:
        self._unsealed.set()

    async def wait_unsealed(self) -> None:
        await self._unsealed.wait()
