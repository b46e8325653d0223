"""mount.sdk answers and errors as OpenBao's `pb.Response` and `pb.ProtoError`.

The one place responses are translated: which mount.sdk Response fields OpenBao can
carry (data, warnings, a secret), how a lease is described (nanosecond TTLs and the
`issue_time` OpenBao requires), and how typed errors become status codes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from goplugin.proto import backend_pb2
from goplugin.requests import SECRET_TYPE_KEY
from mount.sdk import (
    PermissionDeniedError,
    Response,
    SecretSpec,
    SecretTTL,
    UnsupportedOperationError,
    UnsupportedPathError,
    VaultError,
)

__all__ = [
    "ERR_CODED",
    "ERR_PERMISSION_DENIED",
    "ERR_UNSUPPORTED_OPERATION",
    "ERR_UNSUPPORTED_PATH",
    "error_of",
    "user_error_response",
    "internal_error",
    "plain_response",
    "renewed_secret",
    "secret_response",
]

# pb.ProtoError.err_type values (OpenBao's sdk/plugin/pb/translation.go).
ERR_UNKNOWN = 0
ERR_CODED = 3
ERR_UNSUPPORTED_OPERATION = 5
ERR_UNSUPPORTED_PATH = 6
ERR_PERMISSION_DENIED = 8

_NS = 1_000_000_000


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _nanos(duration: timedelta) -> int:
    return int(duration.total_seconds()) * _NS


def _timestamp(when: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp


def plain_response(response: Response | None) -> backend_pb2.Response | None:
    """A handler's answer without a credential; None is Vault's "no content" (404 on read).

    Help comes as data too (`help`, `openapi`, `see_also`), as Go's framework answers it.
    """
    if response is None:
        return None
    data = response.data
    if data is None and not response.warnings:
        return None
    return backend_pb2.Response(data=_json(data), warnings=list(response.warnings))


def secret_response(
    spec: SecretSpec,
    internal: Mapping[str, Any],
    data: Mapping[str, Any],
    warnings: list[str],
    issued: datetime | None = None,
) -> backend_pb2.Response:
    """A new credential under a lease OpenBao will own.

    The secret type goes into the internal data so that renew and revoke, which OpenBao
    sends with that data only, reach the right callbacks. `issue_time` must be set:
    without it OpenBao fails the read with `proto: invalid nil Timestamp`.
    """
    options = backend_pb2.LeaseOptions(
        TTL=_nanos(spec.ttl),
        MaxTTL=_nanos(spec.max_ttl),
        renewable=spec.renewable,
        issue_time=_timestamp(issued or datetime.now(UTC)),
    )
    secret = backend_pb2.Secret(
        lease_options=options,
        internal_data=_json({**internal, SECRET_TYPE_KEY: spec.type}),
    )
    return backend_pb2.Response(secret=secret, data=_json(dict(data)), warnings=warnings)


def renewed_secret(
    request_secret: backend_pb2.Secret, allowed: SecretTTL | None
) -> backend_pb2.Response:
    """The renew answer: the lease's secret with the TTLs the backend allows now.

    OpenBao computes the final TTL itself from the increment, these TTLs, the mount's
    limits and the lease's issue time. None keeps the lease's own TTLs.
    """
    secret = backend_pb2.Secret()
    secret.CopyFrom(request_secret)
    if not secret.lease_options.HasField("issue_time"):
        secret.lease_options.issue_time.CopyFrom(_timestamp(datetime.now(UTC)))
    if allowed is not None:
        secret.lease_options.TTL = _nanos(allowed.ttl)
        secret.lease_options.MaxTTL = _nanos(allowed.max_ttl)
    return backend_pb2.Response(secret=secret, data="null")


def user_error_response(exc: VaultError) -> backend_pb2.Response | None:
    """A 400 as OpenBao's own engines answer it: a response whose data holds `error`.

    OpenBao then shows exactly that sentence (`["unknown role: x"]`), where a returned
    error would come back wrapped as `1 error occurred: ...`. None for other statuses.
    """
    if exc.status != 400:
        return None
    message = "; ".join(exc.errors) or exc.message
    return backend_pb2.Response(data=_json({"error": message}))


def error_of(exc: VaultError) -> backend_pb2.ProtoError:
    """A typed error as OpenBao's coded error: its status and its message."""
    if isinstance(exc, UnsupportedPathError):
        return backend_pb2.ProtoError(err_type=ERR_UNSUPPORTED_PATH, err_msg="unsupported path")
    if isinstance(exc, UnsupportedOperationError):
        return backend_pb2.ProtoError(
            err_type=ERR_UNSUPPORTED_OPERATION, err_msg="unsupported operation"
        )
    if isinstance(exc, PermissionDeniedError):
        return backend_pb2.ProtoError(err_type=ERR_PERMISSION_DENIED, err_msg="permission denied")
    message = "; ".join(exc.errors) or exc.message or "internal error"
    return backend_pb2.ProtoError(err_type=ERR_CODED, err_msg=message, err_code=exc.status)


def internal_error(what: str) -> backend_pb2.ProtoError:
    """An unexpected failure, said without its details (they may hold a secret)."""
    return backend_pb2.ProtoError(
        err_type=ERR_CODED,
        err_msg=f"internal error in the entra plugin while {what}; see the OpenBao server log",
        err_code=500,
    )
