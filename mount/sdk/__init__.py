"""Our Vault SDK: the only part of `mount` that a secrets engine may import."""

from mount.sdk.durations import DurationError, format_duration, parse_duration
from mount.sdk.errors import (
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
    UnsupportedOperationError,
    UnsupportedPathError,
    UpstreamError,
    VaultError,
)
from mount.sdk.fields import Field, FieldData, FieldType, name_pattern
from mount.sdk.framework import Backend, Path, SecretType
from mount.sdk.logical import (
    BackendConfig,
    Issued,
    IssueFn,
    LoginSpec,
    Operation,
    Request,
    Response,
    SecretRequest,
    SecretSpec,
    SecretTTL,
    Storage,
)
from mount.sdk.telemetry import MetricsSink, NullSink

__all__ = [
    "Backend",
    "BackendConfig",
    "ConflictError",
    "DurationError",
    "Field",
    "FieldData",
    "FieldType",
    "InvalidRequestError",
    "IssueFn",
    "Issued",
    "LoginSpec",
    "MetricsSink",
    "NotFoundError",
    "NullSink",
    "Operation",
    "Path",
    "PermissionDeniedError",
    "RateLimitedError",
    "Request",
    "Response",
    "SecretRequest",
    "SecretSpec",
    "SecretTTL",
    "SecretType",
    "Storage",
    "UnavailableError",
    "UnsupportedOperationError",
    "UnsupportedPathError",
    "UpstreamError",
    "VaultError",
    "format_duration",
    "name_pattern",
    "parse_duration",
]
