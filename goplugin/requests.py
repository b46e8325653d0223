"""OpenBao's `pb.Request` as mount.sdk sees it: the one place requests are translated."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from goplugin.proto import backend_pb2
from mount.sdk import InvalidRequestError, Operation, Request, Storage

__all__ = [
    "HOST_OPERATIONS",
    "OPERATIONS",
    "SECRET_TYPE_KEY",
    "decode_object",
    "secret_of",
    "to_sdk_request",
]

# The key of a secret's internal data naming its secret type (the Go SDK's convention).
SECRET_TYPE_KEY = "secret_type"

# OpenBao operation names served by the backend's path table.
OPERATIONS: Mapping[str, Operation] = {op.value: op for op in Operation}
# Operations the host serves itself (lease callbacks and the rollback manager's tick).
HOST_OPERATIONS = frozenset({"renew", "revoke", "rollback"})


def decode_object(text: str, what: str) -> dict[str, Any]:
    """A JSON object sent as text ("", "null" and "{}" are all empty)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidRequestError(f"{what} is not valid JSON: {exc}") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{what} is not a JSON object")
    return value


def to_sdk_request(request: backend_pb2.Request, storage: Storage) -> Request:
    """A request for the backend's path table (operations in OPERATIONS only)."""
    operation = OPERATIONS[request.operation]
    remote = request.connection.remote_addr if request.HasField("connection") else ""
    return Request(
        operation=operation,
        path=request.path,
        data=decode_object(request.data, "the request data"),
        storage=storage,
        mount_point=request.mount_point,
        # The accessor names the caller in our own host; OpenBao's display name is what
        # it shows operators (token-<name>, approle, ...). Never the token itself.
        identity=request.display_name or request.client_token_accessor,
        remote_address=remote,
    )


def secret_of(request: backend_pb2.Request) -> tuple[str, dict[str, Any]]:
    """(secret type, internal data) of the lease a renew or revoke is for."""
    if not request.HasField("secret"):
        raise InvalidRequestError(f"{request.operation} request without its secret")
    internal = decode_object(request.secret.internal_data, "the secret's internal data")
    secret_type = internal.pop(SECRET_TYPE_KEY, None)
    if not isinstance(secret_type, str) or not secret_type:
        raise InvalidRequestError(
            f"the secret's internal data has no {SECRET_TYPE_KEY!r}: it was not issued "
            "by this plugin"
        )
    return secret_type, internal
