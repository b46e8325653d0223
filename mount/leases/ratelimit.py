"""A sliding-window limit on credential issues per path, so no client loop becomes a storm.

Vault Agent answers any failed renewal by reading a new credential at once, and keeps
doing so; for us every read is an Entra password reset. The window counts attempts,
failed ones too, since each of them reached (or may have reached) Entra.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from mount.sdk.durations import format_duration
from mount.sdk.errors import RateLimitedError

__all__ = ["IssueRateLimiter"]


class IssueRateLimiter:
    """At most `limit` issues per key within any `interval` seconds; 0 disables it."""

    def __init__(
        self, limit: int, interval: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.interval = interval
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    def acquire(self, key: str) -> None:
        """Count one issue for `key`, or raise a 429 saying when to try again."""
        if self.limit <= 0 or self.interval <= 0:
            return
        now = self._clock()
        recent = self._recent.setdefault(key, deque())
        while recent and recent[0] <= now - self.interval:
            recent.popleft()
        if len(recent) >= self.limit:
            retry_after = max(1, math.ceil(recent[0] + self.interval - now))
            raise RateLimitedError(
                f"too many credentials issued for {key}: the limit is {self.limit} per "
                f"{format_duration(int(self.interval))} (role_issue_limit); "
                f"retry in {retry_after}s",
                retry_after=retry_after,
            )
        recent.append(now)
        # Keys whose window has emptied are dropped now and then, so the map stays as
        # small as the set of recently used paths.
        if len(self._recent) > 1024:
            self._prune(now)

    def _prune(self, now: float) -> None:
        for key in [k for k, q in self._recent.items() if not q or q[-1] <= now - self.interval]:
            del self._recent[key]
