"""sys/mounts/<path> and its /tune: enable, read, tune and disable secrets engines.

`bao secrets enable|tune|disable`, hvac's enable_secrets_engine, tune_mount_configuration,
read_mount_configuration and disable_secrets_engine; sys/mounts (the list) stays in
mount/sys/backend.py.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from mount.mounts import sanitize_path
from mount.reply import Reply
from mount.sdk.durations import DurationError, parse_duration
from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response
from mount.sys.engines import SecretsEngines

if TYPE_CHECKING:
    from mount.core import Core
    from mount.mounts import MountEntry

__all__ = ["paths"]

READ, UPDATE, DELETE = Operation.READ, Operation.UPDATE, Operation.DELETE

_PATH = Field(FieldType.STRING, "The mount path, for example entra-prod/.")

MOUNT_FIELDS: dict[str, Field] = {
    "path": _PATH,
    "type": Field(
        FieldType.STRING,
        "The secrets engine's type; `entra` is the one available (sys/mounts answers the "
        "types that exist when another is asked for).",
    ),
    "description": Field(FieldType.STRING, "A note for operators, shown by `bao secrets list`."),
    "config": Field(
        FieldType.MAP,
        "Mount settings: default_lease_ttl and max_lease_ttl of its leases (durations; "
        "empty, 0 or system: the server's); others are ignored.",
    ),
    "options": Field(
        FieldType.MAP,
        "The engine's mount options (string values), shown by sys/mounts; the Entra engine "
        "takes none of its own.",
    ),
    "local": Field(
        FieldType.BOOL, "Accepted for compatibility; a single server has no replication."
    ),
    "seal_wrap": Field(FieldType.BOOL, "Accepted for compatibility; storage is always encrypted."),
    "external_entropy_access": Field(FieldType.BOOL, "Accepted for compatibility; ignored."),
    "plugin_name": Field(FieldType.STRING, "Accepted for compatibility; use type."),
    "plugin_version": Field(
        FieldType.STRING, "Accepted for compatibility; the engines are built in, unversioned."
    ),
}

TUNE_FIELDS: dict[str, Field] = {
    "path": _PATH,
    "default_lease_ttl": Field(
        FieldType.STRING,
        "The TTL of the mount's new leases when the role sets none (a duration; system: "
        "the server's default).",
    ),
    "max_lease_ttl": Field(
        FieldType.STRING,
        "The longest the mount's leases may live, renewals included (a duration; system: "
        "the server's max).",
    ),
    "description": Field(FieldType.STRING, "A note for operators, shown by `bao secrets list`."),
    "options": Field(FieldType.MAP, "Accepted for compatibility; mount options are set once."),
    "audit_non_hmac_request_keys": Field(
        FieldType.STRING_LIST, "Accepted for compatibility; ignored."
    ),
    "audit_non_hmac_response_keys": Field(
        FieldType.STRING_LIST, "Accepted for compatibility; ignored."
    ),
    "listing_visibility": Field(FieldType.STRING, "Accepted for compatibility; ignored."),
    "passthrough_request_headers": Field(
        FieldType.STRING_LIST, "Accepted for compatibility; ignored."
    ),
    "allowed_response_headers": Field(
        FieldType.STRING_LIST, "Accepted for compatibility; ignored."
    ),
    "plugin_version": Field(
        FieldType.STRING, "Accepted for compatibility; the engines are built in, unversioned."
    ),
}


def paths(core: Core, engines: SecretsEngines) -> list[Path]:
    return [
        Path(
            r"mounts/(?P<path>.+?)/tune",
            {READ: partial(mount_tune_read, core), UPDATE: partial(mount_tune, core, engines)},
            TUNE_FIELDS,
            help_synopsis="Read or change a mount's lease TTLs and description.",
            help_description=TUNE_HELP,
        ),
        Path(
            r"mounts/(?P<path>.+?)/?",
            {
                READ: partial(mount_read, core),
                UPDATE: partial(mount_enable, engines),
                DELETE: partial(mount_disable, engines),
            },
            MOUNT_FIELDS,
            help_synopsis="Enable, read or disable the secrets engine at a path.",
            help_description=MOUNT_HELP,
        ),
    ]


def _entry_for(core: Core, path: str) -> MountEntry:
    wanted = sanitize_path(path)
    entry = core.mounts.get(wanted)
    if entry is None or entry.kind != "secret":
        raise InvalidRequestError(f"No secret engine mount at {wanted}")
    return entry


async def mount_read(core: Core, req: Request, d: FieldData) -> Response:
    return Reply(data=_entry_for(core, d.get("path")).describe(), data_at_top_level=True)


def _ttl(raw: Any, label: str) -> int:
    """Seconds of a TTL setting; 0 for empty or system (the server's)."""
    if raw in (None, "", "system"):
        return 0
    try:
        seconds = int(parse_duration(raw).total_seconds())
    except DurationError as exc:
        raise InvalidRequestError(f"unable to parse {label} of {raw}: {exc}") from None
    if seconds < 0:
        raise InvalidRequestError(f"unable to parse {label} of {raw}: it must not be negative")
    return seconds


async def mount_enable(engines: SecretsEngines, req: Request, d: FieldData) -> None:
    config: dict[str, Any] = d.get("config") or {}
    default_ttl = _ttl(config.get("default_lease_ttl"), "default TTL")
    max_ttl = _ttl(config.get("max_lease_ttl"), "max TTL")
    if max_ttl and default_ttl > max_ttl:
        raise InvalidRequestError("given default lease TTL greater than given max lease TTL")
    system_max = engines.system_max_lease_ttl
    if not max_ttl and default_ttl > system_max:
        raise InvalidRequestError(
            f"given default lease TTL greater than system max lease TTL of {system_max}"
        )
    type_name = str(d.get("type") or "").strip()
    if type_name == "plugin":
        type_name = str(config.get("plugin_name") or d.get("plugin_name") or "")
        if not type_name:
            raise InvalidRequestError("plugin_name must be provided for plugin backend")
    options = {str(k): str(v) for k, v in (d.get("options") or {}).items()}
    if options.get("version"):
        raise InvalidRequestError(f'secrets engine "{type_name}" does not allow setting a version')
    await engines.enable(
        d.get("path"),
        type_name,
        description=d.get("description") or "",
        default_lease_ttl=default_ttl,
        max_lease_ttl=max_ttl,
        options=options,
    )


async def mount_disable(engines: SecretsEngines, req: Request, d: FieldData) -> None:
    await engines.disable(d.get("path"))


async def mount_tune_read(core: Core, req: Request, d: FieldData) -> Response:
    entry = _entry_for(core, d.get("path"))
    data = {
        "default_lease_ttl": entry.default_lease_ttl or core.settings.default_lease_ttl,
        "description": entry.description,
        "force_no_cache": False,
        "max_lease_ttl": entry.max_lease_ttl or core.settings.max_lease_ttl,
    }
    if entry.options:
        data["options"] = dict(entry.options)
    return Reply(data=data, data_at_top_level=True)


async def mount_tune(core: Core, engines: SecretsEngines, req: Request, d: FieldData) -> None:
    path = sanitize_path(d.get("path"))
    entry = core.mounts.get(path)
    if entry is not None and entry.builtin:
        given = sorted(k for k in req.data if k in TUNE_FIELDS and k != "path")
        if given:
            raise InvalidRequestError(f"cannot tune parameter {given[0]} of {path}")
        return
    if not engines.stored(path):
        raise InvalidRequestError(f'tune of path "{path}" failed: no mount entry found')
    raw = req.data
    await engines.tune(
        path,
        default_lease_ttl=_tuned(raw.get("default_lease_ttl"), "default TTL"),
        max_lease_ttl=_tuned(raw.get("max_lease_ttl"), "max TTL"),
        description=d.get("description") if "description" in raw else None,
    )


def _tuned(raw: Any, label: str) -> int | None:
    """A tuned TTL: None (absent or empty) keeps the mount's, system resets it to 0."""
    if raw is None or raw == "":
        return None
    return _ttl(raw, label)


MOUNT_HELP = """\
POST (or PUT) enables a secrets engine of the given type at <path>/ (`bao secrets enable
-path=entra-prod entra`); the mount is stored and comes back after a restart, with its
own config, roles, leases and metrics. GET describes it. DELETE disables it: every lease
it issued is revoked first (if one cannot be, the disable fails and the mount stays),
then its config and roles are deleted. sys/, auth/, audit/, cubbyhole/ and identity/
cannot be mounted over."""

TUNE_HELP = """\
GET answers the mount's lease TTLs (the server's where the mount sets none) and its
description. POST changes them (`bao secrets tune -default-lease-ttl=1h
-max-lease-ttl=8h entra-prod/`): new leases of the mount get the new TTLs; existing ones
keep theirs until renewed. system sets a TTL back to the server's."""
