"""Who calls the host's own backends (sys/, auth/token/): their token, its ACL, headers.

Engines never see this: the core sets it only around a built-in mount's handler (a
context variable, so concurrent requests each see their own caller), and `plugin/` may
import nothing of `mount/` but `mount.sdk`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from mount.policy.acl import ACL
from mount.sdk.errors import PermissionDeniedError
from mount.tokens.store import TokenEntry

__all__ = ["Caller", "calling", "current_caller"]


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated client of one request to a built-in backend."""

    token: TokenEntry | None
    # The client's token as sent (token self-lookup and renew answer with it); never logged.
    token_id: str = field(repr=False)
    # No default: a caller never holds more than the core authorized for its token.
    acl: ACL
    # The Accept header of a read: sys/metrics answers Prometheus text to Prometheus.
    accept: str = ""
    # The wrap TTL the request asked for (sys/wrapping/wrap requires one).
    wrap_ttl: int = 0

    def require_token(self) -> TokenEntry:
        """The caller's token record; refused when the path was served without one."""
        if self.token is None:
            raise PermissionDeniedError()
        return self.token


_CURRENT: ContextVar[Caller] = ContextVar("caller")


@contextlib.contextmanager
def calling(caller: Caller) -> Iterator[None]:
    reset = _CURRENT.set(caller)
    try:
        yield
    finally:
        _CURRENT.reset(reset)


def current_caller() -> Caller:
    """The caller of the built-in backend request being served; outside one, nobody."""
    try:
        return _CURRENT.get()
    except LookupError:
        raise PermissionDeniedError() from None
