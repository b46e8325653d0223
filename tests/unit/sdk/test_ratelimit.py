"""The per-role issue limit (mount/sdk/ratelimit.py)."""

import pytest

from mount.sdk.errors import RateLimitedError
from mount.sdk.ratelimit import IssueRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_allows_the_limit_then_says_when_to_retry():
    clock = Clock()
    limiter = IssueRateLimiter(3, 60, clock)
    for _ in range(3):
        limiter.acquire("entra/creds/alice")
        clock.now += 10
    with pytest.raises(RateLimitedError) as info:
        limiter.acquire("entra/creds/alice")
    assert info.value.status == 429
    assert info.value.retry_after == 30  # the first issue leaves the window at 1060
    assert "the limit is 3 per 1m (role_issue_limit)" in info.value.message
    limiter.acquire("entra/creds/bob")  # other roles have their own window
    clock.now = 1060.0
    limiter.acquire("entra/creds/alice")


def test_zero_turns_the_limit_off():
    limiter = IssueRateLimiter(0, 60, Clock())
    for _ in range(1000):
        limiter.acquire("entra/creds/alice")


def test_idle_keys_are_pruned():
    clock = Clock()
    limiter = IssueRateLimiter(1, 1, clock)
    for index in range(1100):
        limiter.acquire(f"entra/creds/u{index}")
    clock.now += 5
    limiter.acquire("entra/creds/last")
    assert len(limiter._recent) == 1
