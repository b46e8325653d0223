"""Audit log entries: what one request or response records, and its JSON line.

The shapes follow Vault's audit format (`time`, `type`, `auth`, `request`, `response`,
`error`, with Vault's field names and order); empty fields are left out, as Vault's
`omitempty` does. Tokens, accessors and every string under `data` are HMAC'd with the
device's key; lease ids, paths, policies and times stay readable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mount.audit.hashing import AuditHasher

__all__ = [
    "AuditAuth",
    "AuditEvent",
    "AuditRequest",
    "AuditResponse",
    "FormatOptions",
    "format_event",
]

ROOT_NAMESPACE = {"id": "root"}


@dataclass(frozen=True, slots=True)
class AuditAuth:
    """The caller's token, as the request saw it; `client_token` is the token itself."""

    client_token: str = field(default="", repr=False)
    accessor: str = ""
    display_name: str = ""
    policies: tuple[str, ...] = ()
    metadata: Mapping[str, str] | None = None
    # Vault's name for "no token" is the default token type.
    token_type: str = "default"
    token_ttl: int = 0
    token_issue_time: str = ""
    remaining_uses: int = 0


@dataclass(frozen=True, slots=True)
class AuditRequest:
    """One API call: who, which path and mount, and its input (hashed when written)."""

    id: str
    operation: str
    path: str
    data: Mapping[str, Any] | None = field(default=None, repr=False)
    client_token: str = field(default="", repr=False)
    client_token_accessor: str = ""
    mount_point: str = ""
    mount_type: str = ""
    mount_accessor: str = ""
    mount_class: str = ""
    remote_address: str = ""
    # Fields the path declares sensitive: hashed whatever their JSON type.
    sensitive: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AuditResponse:
    """What the client was answered; `auth` is the envelope's auth block, token included."""

    data: Mapping[str, Any] | None = field(default=None, repr=False)
    lease_id: str = ""
    auth: Mapping[str, Any] | None = field(default=None, repr=False)
    warnings: tuple[str, ...] = ()
    # A wrapped answer's wrap_info: its token (and accessors) hashed when written.
    wrap_info: Mapping[str, Any] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One line of the log: a request (before it is served) or its response."""

    type: Literal["request", "response"]
    time: str
    auth: AuditAuth
    request: AuditRequest
    response: AuditResponse | None = None
    error: str = ""


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """The device options that change what a line holds."""

    hmac_accessor: bool = True
    elide_list_responses: bool = False
    prefix: str = ""


def format_event(event: AuditEvent, hasher: AuditHasher, options: FormatOptions) -> bytes:
    """The event as one JSON line (with the device's prefix), secrets hashed."""
    entry: dict[str, Any] = {
        "time": event.time,
        "type": event.type,
        "auth": _auth(event.auth, hasher, options),
        "request": _request(event.request, hasher, options),
    }
    if event.type == "response":
        entry["response"] = _response(event, hasher, options)
    if event.error:
        entry["error"] = event.error
    text = json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
    # A lone surrogate (from a non-UTF-8 header) must not make the line unwritable.
    return (options.prefix + text + "\n").encode("utf-8", "backslashreplace")


def _compact(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values, as Vault's `omitempty` tags do."""
    return {k: v for k, v in fields.items() if v not in (None, "", [], {}, False, 0)}


def _accessor(value: str, hasher: AuditHasher, options: FormatOptions) -> str:
    return hasher.hash(value) if value and options.hmac_accessor else value


def _auth(auth: AuditAuth, hasher: AuditHasher, options: FormatOptions) -> dict[str, Any]:
    return _compact(
        {
            "client_token": hasher.hash(auth.client_token) if auth.client_token else "",
            "accessor": _accessor(auth.accessor, hasher, options),
            "display_name": auth.display_name,
            "policies": list(auth.policies),
            "token_policies": list(auth.policies),
            "metadata": dict(auth.metadata) if auth.metadata else None,
            "remaining_uses": auth.remaining_uses,
            "token_type": auth.token_type,
            "token_ttl": auth.token_ttl,
            "token_issue_time": auth.token_issue_time,
        }
    )


def _request(request: AuditRequest, hasher: AuditHasher, options: FormatOptions) -> dict[str, Any]:
    return _compact(
        {
            "id": request.id,
            "operation": request.operation,
            "mount_point": request.mount_point,
            "mount_type": request.mount_type,
            "mount_accessor": request.mount_accessor,
            "mount_class": request.mount_class,
            "client_token": hasher.hash(request.client_token) if request.client_token else "",
            "client_token_accessor": _accessor(request.client_token_accessor, hasher, options),
            "namespace": ROOT_NAMESPACE,
            "path": request.path,
            "data": (
                hasher.hash_structure(dict(request.data), request.sensitive)
                if request.data
                else None
            ),
            "remote_address": request.remote_address,
        }
    )


def _response(event: AuditEvent, hasher: AuditHasher, options: FormatOptions) -> dict[str, Any]:
    request, response = event.request, event.response or AuditResponse()
    data: Any = dict(response.data) if response.data else None
    if data is not None and options.elide_list_responses and request.operation == "list":
        # Vault's elision: list results become their counts, so huge lists stay short.
        for key in ("keys", "key_info"):
            if isinstance(data.get(key), list | dict):
                data[key] = len(data[key])
    return _compact(
        {
            "mount_point": request.mount_point,
            "mount_type": request.mount_type,
            "mount_accessor": request.mount_accessor,
            "mount_class": request.mount_class,
            "auth": _response_auth(response.auth, hasher, options),
            "secret": {"lease_id": response.lease_id} if response.lease_id else None,
            "data": hasher.hash_structure(data) if data is not None else None,
            "warnings": list(response.warnings),
            "wrap_info": _wrap_info(response.wrap_info, hasher, options),
        }
    )


def _wrap_info(
    info: Mapping[str, Any] | None, hasher: AuditHasher, options: FormatOptions
) -> dict[str, Any] | None:
    """A wrapping token handed out: the token hashed, and its accessors unless not asked."""
    if not info:
        return None
    return _compact(
        {
            "token": hasher.hash(str(info.get("token") or "")) if info.get("token") else "",
            "accessor": _accessor(str(info.get("accessor") or ""), hasher, options),
            "ttl": info.get("ttl") or 0,
            "creation_time": info.get("creation_time") or "",
            "creation_path": info.get("creation_path") or "",
            "wrapped_accessor": _accessor(str(info.get("wrapped_accessor") or ""), hasher, options),
        }
    )


def _response_auth(
    auth: Mapping[str, Any] | None, hasher: AuditHasher, options: FormatOptions
) -> dict[str, Any] | None:
    """A token handed out (token create, renew): the token and accessor hashed."""
    if not auth:
        return None
    token = str(auth.get("client_token") or "")
    policies = auth.get("policies") or []
    return _compact(
        {
            "client_token": hasher.hash(token) if token else "",
            "accessor": _accessor(str(auth.get("accessor") or ""), hasher, options),
            "policies": list(policies),
            "token_policies": list(auth.get("token_policies") or policies),
            "metadata": auth.get("metadata"),
            "num_uses": auth.get("num_uses") or 0,
            "entity_id": auth.get("entity_id") or "",
            "token_type": auth.get("token_type") or "",
            "token_ttl": auth.get("lease_duration") or 0,
        }
    )
