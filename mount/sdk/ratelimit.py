"""A sliding-window limit on credential issues per role, so no client loop becomes a storm.

Vault Agent answers any failed renewal by reading a new credential at once, and keeps
doing so; for us every read is an Entra password reset. The window counts attempts,
failed ones too, since each of them reached (or may have reached) Entra.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping

from mount.sdk.durations import DurationError, format_duration, parse_duration
from mount.sdk.errors import InvalidRequestError, RateLimitedError

__all__ = [
    "DEFAULT_ISSUE_INTERVAL",
    "DEFAULT_ISSUE_LIMIT",
    "INTERVAL_OPTION",
    "LIMIT_OPTION",
    "IssueRateLimiter",
    "issue_limit_options",
    "limiter_from_options",
]

# The defaults of the server's role_issue_limit / role_issue_interval and of an OpenBao
# mount's options of the same names: 30 credentials per role per minute.
DEFAULT_ISSUE_LIMIT = 30
DEFAULT_ISSUE_INTERVAL = 60.0
# The mount options (BackendConfig.config) that carry them to an engine.
LIMIT_OPTION = "role_issue_limit"
INTERVAL_OPTION = "role_issue_interval"


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


def issue_limit_options(limit: int, interval: float) -> dict[str, str]:
    """The mount options a host passes so its engine enforces this limit."""
    return {LIMIT_OPTION: str(limit), INTERVAL_OPTION: f"{int(interval)}s"}


def limiter_from_options(options: Mapping[str, str]) -> IssueRateLimiter:
    """The limiter a mount's options ask for; the defaults where they are silent.

    A value that does not parse is refused with a sentence naming the option, so a
    mistyped `-options=role_issue_limit=…` fails the mount, not a later read.
    """
    raw_limit = options.get(LIMIT_OPTION, "").strip()
    raw_interval = options.get(INTERVAL_OPTION, "").strip()
    try:
        limit = int(raw_limit) if raw_limit else DEFAULT_ISSUE_LIMIT
    except ValueError:
        limit = -1
    if limit < 0:
        raise InvalidRequestError(
            f"invalid mount option {LIMIT_OPTION}={raw_limit!r}: use a whole number of "
            "credentials per role (0 turns the limit off)"
        )
    try:
        interval = parse_duration(raw_interval).total_seconds() if raw_interval else 0.0
    except DurationError:
        interval = -1
    if interval < 0:
        raise InvalidRequestError(
            f"invalid mount option {INTERVAL_OPTION}={raw_interval!r}: use a duration "
            'such as "1m" or "60s"'
        )
    return IssueRateLimiter(limit, interval or DEFAULT_ISSUE_INTERVAL)
