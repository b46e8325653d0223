"""sys/auth/<path>: enable, read and disable auth methods (`bao auth enable|disable`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from mount.auth.methods import AuthMethods, sanitize_path
from mount.reply import Reply
from mount.sdk.durations import DurationError, parse_duration
from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response

__all__ = ["paths"]

READ, UPDATE, DELETE = Operation.READ, Operation.UPDATE, Operation.DELETE

FIELDS: dict[str, Field] = {
    "path": Field(
        FieldType.STRING, "Where to mount the method, under auth/: approle gives auth/approle/."
    ),
    "type": Field(
        FieldType.STRING, "The auth method's type: `approle`, `oidc` or `jwt` (the same method)."
    ),
    "description": Field(FieldType.STRING, "A note for operators, shown by `bao auth list`."),
    "config": Field(
        FieldType.MAP,
        "Mount settings: default_lease_ttl and max_lease_ttl of its tokens (durations; "
        "empty, 0 or system: the server's), token_type (service only); others are ignored.",
    ),
    "local": Field(
        FieldType.BOOL, "Accepted for compatibility; a single server has no replication."
    ),
    "seal_wrap": Field(FieldType.BOOL, "Accepted for compatibility; storage is always encrypted."),
    "external_entropy_access": Field(FieldType.BOOL, "Accepted for compatibility; ignored."),
    "options": Field(FieldType.MAP, "Accepted for compatibility; auth methods take no options."),
    "plugin_name": Field(FieldType.STRING, "Accepted for compatibility; use type."),
}


def paths(methods: AuthMethods) -> list[Path]:
    return [
        Path(
            r"auth/(?P<path>.+?)/?",
            {
                READ: partial(auth_read, methods),
                UPDATE: partial(auth_enable, methods),
                DELETE: partial(auth_disable, methods),
            },
            FIELDS,
            help_synopsis="Enable, read or disable the auth method at a path.",
            help_description=HELP_DESC,
        )
    ]


async def auth_read(methods: AuthMethods, req: Request, d: FieldData) -> Response:
    path = sanitize_path(d.get("path"))
    entry = methods.entry(path)
    if entry is None:
        raise InvalidRequestError(f"No auth engine at {path}")
    return Reply(data=entry.describe(), data_at_top_level=True)


def _ttl(config: dict[str, Any], key: str, label: str) -> int:
    raw = config.get(key)
    if raw in (None, "", "system"):
        return 0
    try:
        return int(parse_duration(raw).total_seconds())
    except DurationError as exc:
        raise InvalidRequestError(f"unable to parse {label} of {raw}: {exc}") from None


async def auth_enable(methods: AuthMethods, req: Request, d: FieldData) -> None:
    config: dict[str, Any] = d.get("config") or {}
    default_ttl = _ttl(config, "default_lease_ttl", "default TTL")
    max_ttl = _ttl(config, "max_lease_ttl", "max TTL")
    if max_ttl and default_ttl > max_ttl:
        raise InvalidRequestError("given default lease TTL greater than given max lease TTL")
    token_type = str(config.get("token_type") or "")
    if token_type in ("batch", "default-batch"):
        raise InvalidRequestError(
            f'token_type "{token_type}" is not supported: entra-broker issues service tokens '
            "only; leave token_type unset or use service"
        )
    if token_type not in ("", "default-service", "service"):
        raise InvalidRequestError("invalid value for 'token_type'")
    await methods.enable(
        d.get("path"),
        str(d.get("type") or "").strip(),
        description=d.get("description") or "",
        default_lease_ttl=default_ttl,
        max_lease_ttl=max_ttl,
    )


async def auth_disable(methods: AuthMethods, req: Request, d: FieldData) -> None:
    await methods.disable(d.get("path"))


HELP_DESC = """\
POST (or PUT) enables an auth method of the given type at auth/<path>/; the mount is
stored and comes back after a restart. GET describes it. DELETE disables it: the tokens
it issued are revoked and its roles and secret ids are deleted. The token method at
auth/token/ is built in and cannot be disabled."""
