"""What the host's own paths answer: an SDK response plus the envelope's host-only fields.

Engines return `mount.sdk.Response` and cannot set a lease id, an auth block or a raw
body: the host fills those (a lease it registered, a token it minted). The system
backend, the token paths and the host's help answers return a `Reply`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mount.sdk.logical import Response

__all__ = ["Reply", "as_reply"]


@dataclass(slots=True)
class Reply(Response):
    lease_id: str = ""
    renewable: bool = False
    lease_duration: int = 0
    auth: dict[str, Any] | None = None
    # A body sent as is instead of the envelope (sys/health, help and other legacy shapes).
    raw: dict[str, Any] | None = None
    # A non-JSON body sent as is, with its Content-Type (sys/metrics?format=prometheus).
    raw_body: bytes | None = None
    content_type: str = ""
    # Keys of `data` that Vault repeats at the top level of sys responses.
    data_at_top_level: bool = False
    # A 202/204 with no body at all.
    empty: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # A wrapped answer: the wrapping token's info instead of data (mount/tokens/wrapping.py).
    wrap_info: dict[str, Any] | None = None

    def envelope(self, request_id: str) -> dict[str, Any]:
        """Vault's JSON envelope of this answer (what a client reads, and what wrapping
        stores in the cubbyhole); raw and empty answers are not enveloped."""
        body: dict[str, Any] = {}
        if self.data_at_top_level and self.data:
            body.update(self.data)
        body.update(
            {
                "request_id": request_id,
                "lease_id": self.lease_id,
                "renewable": self.renewable,
                "lease_duration": self.lease_duration,
                "data": self.data,
                "wrap_info": self.wrap_info,
                "warnings": self.warnings or None,
                "auth": self.auth,
            }
        )
        return body

    def carries_warnings(self) -> bool:
        return self.raw is None and self.raw_body is None and not self.empty


def as_reply(response: Response) -> Reply:
    """An engine's answer as the envelope sees it (its secret and login already served)."""
    if isinstance(response, Reply):
        return response
    return Reply(data=response.data, warnings=response.warnings, status=response.status)
