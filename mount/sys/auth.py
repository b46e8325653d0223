"""sys/auth/<path>: enable, read, tune and disable auth methods (`bao auth enable|tune|disable`)."""

from __future__ import annotations

from functools import partial
from typing import Any

from mount.auth.methods import AuthMethods, Tuning
from mount.mounts import sanitize_path
from mount.reply import Reply
from mount.sdk.durations import DurationError, parse_duration
from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response

__all__ = ["paths", "tune_paths"]

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


TUNE_FIELDS: dict[str, Field] = {
    "path": Field(FieldType.STRING, "The auth method's path under auth/, for example approle."),
    "default_lease_ttl": Field(
        FieldType.STRING, "Default TTL of the method's tokens; 0 or system: the server's."
    ),
    "max_lease_ttl": Field(
        FieldType.STRING, "Max TTL of the method's tokens; 0 or system: the server's."
    ),
    "description": Field(FieldType.STRING, "A note for operators, shown by `bao auth list`."),
    "token_type": Field(FieldType.STRING, "service or default-service (no batch tokens)."),
    "listing_visibility": Field(FieldType.STRING, 'unauth or hidden ("" resets); shown only.'),
    **{
        name: Field(FieldType.RAW, "Accepted for compatibility; ignored.")
        for name in (
            "audit_non_hmac_request_keys",
            "audit_non_hmac_response_keys",
            "passthrough_request_headers",
            "allowed_response_headers",
            "options",
            "plugin_version",
            "user_lockout_config",
        )
    },
}


def tune_paths(methods: AuthMethods) -> list[Path]:
    """sys/mounts/auth/<path>/tune, where `bao auth tune` sends it (Vault's TuneMount).

    Listed before sys/mounts/<path>/tune, which would otherwise take it for a secrets
    engine's mount.
    """
    return [
        Path(
            r"mounts/auth/(?P<path>.+?)/tune",
            {READ: partial(tune_read, methods), UPDATE: partial(tune_write, methods)},
            TUNE_FIELDS,
            help_synopsis="Read or change an auth method's TTLs and description.",
        )
    ]


def paths(methods: AuthMethods) -> list[Path]:
    return [
        Path(
            r"auth/(?P<path>.+?)/tune",
            {READ: partial(tune_read, methods), UPDATE: partial(tune_write, methods)},
            TUNE_FIELDS,
            help_synopsis="Read or change an auth method's TTLs and description.",
        ),
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
        ),
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
    _token_type(str(config.get("token_type") or ""))
    await methods.enable(
        d.get("path"),
        str(d.get("type") or "").strip(),
        description=d.get("description") or "",
        default_lease_ttl=default_ttl,
        max_lease_ttl=max_ttl,
    )


async def tune_read(methods: AuthMethods, req: Request, d: FieldData) -> Response:
    return Reply(data=methods.tuning(d.get("path")), data_at_top_level=True)


def _tuned_ttl(d: FieldData, key: str, label: str) -> int | None:
    """None (absent or empty: `bao auth tune` sends both keys) keeps the mount's TTL."""
    if not d.provided(key) or d.get(key) in (None, ""):
        return None
    return _ttl({key: d.get(key)}, key, label)


async def tune_write(methods: AuthMethods, req: Request, d: FieldData) -> None:
    token_type = None
    if d.provided("token_type"):
        token_type = _token_type(str(d.get("token_type") or ""))
    visibility = None
    if d.provided("listing_visibility"):
        visibility = str(d.get("listing_visibility") or "")
        if visibility not in ("", "unauth", "hidden"):
            raise InvalidRequestError(
                f'invalid listing_visibility {visibility!r}: use unauth, hidden or ""'
            )
    await methods.tune(
        d.get("path"),
        Tuning(
            default_lease_ttl=_tuned_ttl(d, "default_lease_ttl", "default TTL"),
            max_lease_ttl=_tuned_ttl(d, "max_lease_ttl", "max TTL"),
            description=d.get("description") if d.provided("description") else None,
            listing_visibility=visibility,
            token_type=token_type,
        ),
    )


def _token_type(token_type: str) -> str:
    if token_type in ("batch", "default-batch"):
        raise InvalidRequestError(
            f'token_type "{token_type}" is not supported: entra-broker issues service tokens '
            "only; leave token_type unset or use service"
        )
    if token_type not in ("", "default-service", "service"):
        raise InvalidRequestError("invalid value for 'token_type'")
    return token_type or "default-service"


async def auth_disable(methods: AuthMethods, req: Request, d: FieldData) -> None:
    await methods.disable(d.get("path"))


HELP_DESC = """\
POST (or PUT) enables an auth method of the given type at auth/<path>/; the mount is
stored and comes back after a restart. GET describes it. DELETE disables it: the tokens
it issued are revoked and its roles and secret ids are deleted. The token method at
auth/token/ is built in and cannot be disabled."""
