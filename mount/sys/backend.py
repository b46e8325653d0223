"""sys/: health, seal-status, leader, mounts, internal/ui/mounts and the OpenAPI document."""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.caller import current_caller
from mount.reply import Reply
from mount.sdk import openapi
from mount.sdk.errors import PermissionDeniedError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response
from mount.seal import Seal
from mount.sys.seal import IDENTITY_SCHEMA, SEAL_STATUS_SCHEMA, seal_status_body
from mount.tokens.store import TokenEntry

if TYPE_CHECKING:
    from mount.core import Core, CoreSettings
    from mount.mounts import MountTable

__all__ = ["paths"]

READ = Operation.READ
_IGNORED_QUERY = {
    name: Field(FieldType.STRING, "Accepted for compatibility; this server is never standby.")
    for name in (
        "standbyok",
        "perfstandbyok",
        "activecode",
        "standbycode",
        "drsecondarycode",
        "haunhealhty",
        "haunhealthy",
        "performancestandbycode",
        "removedcode",
        "uninitcode",
    )
}
_IGNORED_QUERY["sealedcode"] = Field(
    FieldType.STRING, "The status to answer while sealed; 503 when not given."
)


_HEALTH = openapi.legacy_schema(
    initialized="boolean",
    sealed="boolean",
    standby="boolean",
    server_time_utc="integer",
    **IDENTITY_SCHEMA,
)
_LEADER = openapi.legacy_schema(ha_enabled="boolean")


def paths(core: Core) -> list[Path]:
    """The system backend's own paths: health and status, the mount tables, OpenAPI."""
    settings, mounts = core.settings, core.mounts
    path_field = {"path": Field(FieldType.STRING, "The mount path, for example entra/.")}
    return [
        Path(
            "health",
            {READ: partial(health, settings, core.seal)},
            _IGNORED_QUERY,
            help_synopsis="Health of the server.",
            response_schema=_HEALTH,
        ),
        Path(
            "seal-status",
            {READ: partial(seal_status, settings, core.seal)},
            help_synopsis="Seal status: sealed or not, one key share.",
            response_schema=SEAL_STATUS_SCHEMA,
        ),
        Path(
            "leader",
            {READ: leader},
            help_synopsis="High availability status (disabled).",
            response_schema=_LEADER,
        ),
        Path(
            "mounts/?",
            {READ: partial(mounts_read, mounts)},
            help_synopsis="List the mounted secrets engines.",
        ),
        Path(
            "auth/?",
            {READ: partial(auth_read, mounts)},
            help_synopsis="List the enabled auth methods.",
        ),
        Path(
            "internal/ui/mounts/?",
            {READ: partial(ui_mounts, core)},
            help_synopsis="The mounts a token can see, for clients' preflight checks.",
        ),
        Path(
            r"internal/ui/mounts/(?P<path>.+)",
            {READ: partial(ui_mount, core)},
            path_field,
            help_synopsis="The mount serving a path, for clients' preflight checks.",
        ),
        Path(
            "internal/specs/openapi",
            {READ: partial(openapi_read, core)},
            help_synopsis="The OpenAPI document of every mounted path.",
            response_schema={"type": "object", "required": ["openapi", "info", "paths"]},
        ),
    ]


def _identity(settings: CoreSettings) -> dict[str, Any]:
    return {"cluster_name": settings.cluster_name, "cluster_id": settings.cluster_id}


async def health(settings: CoreSettings, seal: Seal, req: Request, d: FieldData) -> Response:
    sealed = seal.sealed
    # As Vault: a sealed server answers 503 (or its `sealedcode`).
    status = _code(d.get("sealedcode"), 503) if sealed else 200
    return Reply(
        raw={
            "initialized": True,
            "sealed": sealed,
            "standby": False,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": int(time.time()),
            "version": settings.version,
            **_identity(settings),
        },
        status=status,
    )


def _code(raw: str | None, default: int) -> int:
    try:
        code = int(raw or default)
    except ValueError:
        return default
    return code if 100 <= code <= 599 else default


async def seal_status(settings: CoreSettings, seal: Seal, req: Request, d: FieldData) -> Response:
    return Reply(raw=seal_status_body(seal, settings))


async def leader(req: Request, d: FieldData) -> Response:
    return Reply(raw={"ha_enabled": False})


def _mounts_of(mounts: MountTable, kind: str) -> dict[str, Any]:
    return {e.path: e.describe() for e in mounts.entries() if e.kind == kind}


async def mounts_read(mounts: MountTable, req: Request, d: FieldData) -> Response:
    return Reply(data=_mounts_of(mounts, "secret"), data_at_top_level=True)


async def auth_read(mounts: MountTable, req: Request, d: FieldData) -> Response:
    return Reply(
        data={k.removeprefix("auth/"): v for k, v in _mounts_of(mounts, "auth").items()},
        data_at_top_level=True,
    )


async def ui_mounts(core: Core, req: Request, d: FieldData) -> Response:
    token = current_caller().token
    if not isinstance(token, TokenEntry):
        return Reply(data={"auth": {}, "secret": {}})
    # As Vault: a token learns only of the mounts its policies reach into.
    acl = await core.policies.acl(token.policies)
    found: dict[str, dict[str, Any]] = {"auth": {}, "secret": {}}
    for entry in core.mounts.entries():
        if acl.reaches_under(entry.path):
            found[entry.kind][entry.path.removeprefix("auth/")] = entry.describe()
    return Reply(data=found)


async def ui_mount(core: Core, req: Request, d: FieldData) -> Response:
    path: str = d.get("path")
    entry = core.mounts.mount_of(path)
    token = current_caller().token
    # As Vault: only a token whose policies reach somewhere inside the mount learns
    # about it (the agent's KV preflight tolerates the 403).
    if (
        entry is None
        or not isinstance(token, TokenEntry)
        or not (await core.policies.acl(token.policies)).reaches_under(entry.path)
    ):
        wanted = path.rstrip("/") + "/"
        raise PermissionDeniedError(
            "preflight capability check returned 403, please ensure client's policies "
            f'grant access to path "{wanted}"'
        )
    return Reply(data={**entry.describe(), "path": entry.path})


async def openapi_read(core: Core, req: Request, d: FieldData) -> Response:
    return Reply(raw=openapi_document(core))


def openapi_document(core: Core) -> dict[str, Any]:
    """One OpenAPI document for all mounts, each mount's paths under its prefix."""
    merged: dict[str, Any] = {}
    for entry in core.mounts.entries():
        for url, item in entry.backend.openapi_paths().items():
            merged["/" + entry.path.rstrip("/") + url] = item
    return openapi.openapi_document(dict(sorted(merged.items())), version=core.settings.version)
