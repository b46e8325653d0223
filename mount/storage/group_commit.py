"""Group commit: concurrent writers share one durable write, in submission order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["GroupCommit"]

logger = logging.getLogger(__name__)

Batch = dict[str, str | None]


class GroupCommit:
    """Merges the batches submitted while a write runs into the next one.

    `commit` makes one merged batch durable (raising on failure, which every submitter of
    that batch gets); `after`, if given, runs once those submitters are released (e.g.
    compaction), its failure logged, not raised. A batch is never split across commits.
    """

    def __init__(
        self,
        commit: Callable[[Batch], Awaitable[None]],
        *,
        name: str,
        after: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._commit = commit
        self._after = after
        self._name = name
        self._pending: Batch = {}
        self._done: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, batch: Batch) -> None:
        """Return once `batch` (merged with others) is durable."""
        loop = asyncio.get_running_loop()
        self._pending.update(batch)
        if self._done is None:
            self._done = loop.create_future()
        done = self._done
        if self._writer is None:
            self._writer = loop.create_task(self._run())
        # Shielded: a cancelled caller stops waiting, but its write still happens, once.
        await asyncio.shield(done)

    @property
    def writing(self) -> bool:
        """A merged batch is being written and nothing new waits for the next one."""
        return self._writer is not None and not self._pending

    @property
    def waiting(self) -> int:
        """How many keys wait for the next write."""
        return len(self._pending)

    async def drain(self) -> None:
        """Wait until nothing submitted is still being written."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writer)

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                done, self._done = self._done, None
                assert done is not None
                try:
                    await self._commit(batch)
                except Exception as exc:
                    done.set_exception(exc)
                    logger.error("storage write failed path=%s error=%s", self._name, exc)
                    continue
                done.set_result(None)
                if self._after is not None:
                    try:
                        await self._after()
                    except Exception as exc:  # the data is durable: keep writing
                        logger.error("storage upkeep failed path=%s error=%s", self._name, exc)
        finally:
            self._writer = None
