"""Revokes tokens when their TTL runs out, and with them their leases and child tokens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from mount.tokens.store import TokenStore

__all__ = ["TokenExpiryWorker"]

logger = logging.getLogger(__name__)


class TokenExpiryWorker:
    def __init__(
        self, tokens: TokenStore, gate: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._tokens = tokens
        # Awaited before each round: a sealed server revokes nothing.
        self._gate = gate
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="token-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        changed = self._tokens.expiry_changed
        while True:
            if self._gate is not None:
                await self._gate()
            changed.clear()
            try:
                await self._tokens.revoke_expired(time.time())
            except Exception:
                # Storage trouble: keep the worker alive and try again shortly.
                logger.exception("token expiry failed")
                await asyncio.sleep(1.0)
                continue
            due = self._tokens.next_expiry()
            timeout = None if due is None else max(0.0, due - time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout)
