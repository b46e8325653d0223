"""sys/audit and sys/audit-hash: list, enable and disable audit devices; hash a value."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response

if TYPE_CHECKING:
    from mount.audit.broker import AuditBroker

__all__ = ["SUDO_PATHS", "paths"]

READ, UPDATE, DELETE = Operation.READ, Operation.UPDATE, Operation.DELETE
# Vault's system backend lists these as root (sudo) paths; enforced by the ACL check.
SUDO_PATHS = ("audit", "audit/*")


def _options(raw: Any) -> dict[str, str]:
    """The options map as strings, the way Vault's key-value pairs field takes it."""
    if raw is None:
        return {}
    options: dict[str, str] = {}
    problems: list[str] = []
    for key, value in dict(raw).items():
        if isinstance(value, bool):
            options[str(key)] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            options[str(key)] = str(value)
        else:
            problems.append(f"option {key}: the value must be a string")
    if problems:
        raise InvalidRequestError(errors=problems)
    return options


_PATH = {"path": Field(FieldType.STRING, "The path of the audit device, for example file/.")}
_ENABLE_FIELDS = {
    **_PATH,
    "type": Field(FieldType.STRING, 'The type of the audit device; only "file".'),
    "description": Field(FieldType.STRING, "A human-friendly description."),
    "options": Field(
        FieldType.MAP,
        "Options of the device (string values): file_path (required), mode, "
        "hmac_accessor, elide_list_responses, format.",
    ),
    "local": Field(FieldType.BOOL, "Accepted for compatibility; no effect.", False),
}
_HASH_FIELDS = {
    **_PATH,
    "input": Field(
        FieldType.STRING,
        "The value to hash, as it appears in requests.",
        sensitive=True,
    ),
}


def paths(audit: AuditBroker) -> list[Path]:
    """The audit endpoints, over the broker that owns the enabled devices."""
    return [
        Path(
            "audit/?",
            {READ: partial(audit_list, audit)},
            help_synopsis="List the enabled audit devices.",
            help_description=AUDIT_LIST_HELP,
        ),
        Path(
            r"audit/(?P<path>.+)",
            {UPDATE: partial(audit_enable, audit), DELETE: partial(audit_disable, audit)},
            _ENABLE_FIELDS,
            help_synopsis="Enable or disable an audit device.",
            help_description=AUDIT_HELP,
        ),
        Path(
            r"audit-hash/(?P<path>.+)",
            {UPDATE: partial(audit_hash, audit)},
            _HASH_FIELDS,
            help_synopsis="The hash of a value with an audit device's HMAC key.",
            help_description=AUDIT_HASH_HELP,
        ),
    ]


async def audit_list(audit: AuditBroker, req: Request, d: FieldData) -> Response:
    data = {entry.path: entry.describe() for entry in audit.entries()}
    return Reply(data=data, data_at_top_level=True)


async def audit_enable(audit: AuditBroker, req: Request, d: FieldData) -> None:
    d.require("type")
    await audit.enable(
        d.get("path"),
        d.get("type"),
        d.get("description") or "",
        _options(d.get("options")),
        bool(d.get("local")),
    )


async def audit_disable(audit: AuditBroker, req: Request, d: FieldData) -> None:
    await audit.disable(d.get("path"))


async def audit_hash(audit: AuditBroker, req: Request, d: FieldData) -> Response:
    value = d.get("input")
    if not value:
        raise InvalidRequestError('the "input" parameter is empty')
    return Reply(data={"hash": audit.hash(d.get("path"), value)}, data_at_top_level=True)


AUDIT_LIST_HELP = """\
The enabled audit devices by path, with their type, description and options. Devices
declared in the config file are listed too."""
AUDIT_HELP = """\
PUT enables a device at the path (type "file", options.file_path an absolute path, or
"stdout" or "discard"): every later request and its response are written to it as JSON
lines, with tokens, accessors and every string value replaced by an HMAC-SHA256 digest.
The file must be the log's own: the seal key, the storage files and any existing file
that is not an audit log are refused. DELETE disables it; devices declared in the config
file cannot be disabled here."""
AUDIT_HASH_HELP = """\
Returns the "hmac-sha256:..." digest that the device writes for the input, to find a
known value (a token, a user name) in the audit log."""
