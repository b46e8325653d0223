"""A request as the core sees it, whichever front end (HTTP, the dashboard) built it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mount.ids import new_request_id
from mount.sdk.logical import Operation

__all__ = ["ApiRequest"]


@dataclass(slots=True)
class ApiRequest:
    """An API call after HTTP parsing: the logical operation, path, data and token."""

    method: str
    operation: Operation
    path: str
    data: dict[str, Any]
    token: str
    query: dict[str, str] = field(default_factory=dict)
    remote: str = ""
    # The envelope's request_id, known from the start so the audit log can carry it.
    request_id: str = field(default_factory=lambda: new_request_id())
    # The Accept header of a read: sys/metrics answers Prometheus text to Prometheus.
    accept: str = ""
    # X-Vault-Wrap-TTL in seconds: answer with a wrapping token instead (0: no wrapping).
    wrap_ttl: int = 0
