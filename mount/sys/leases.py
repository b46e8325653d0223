"""sys/leases/*: lookup, list, renew, revoke, revoke-prefix, revoke-force, tidy, irrevocable."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError, NotFoundError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response

if TYPE_CHECKING:
    from mount.core import Core
    from mount.leases.manager import LeaseManager
    from mount.leases.record import Lease
    from mount.mounts import MountTable

__all__ = ["paths"]

logger = logging.getLogger(__name__)

READ, UPDATE, LIST = Operation.READ, Operation.UPDATE, Operation.LIST

_LEASE_ID = Field(FieldType.RAW, "The lease identifier. This is included with a lease.")
_URL_LEASE_ID = Field(FieldType.STRING, "The lease identifier, given in the URL.")
_SYNC = Field(
    FieldType.BOOL,
    "Whether to wait for the revocation to finish (true, the default) or queue it and "
    "return 202 at once (false).",
    default=True,
)
_PREFIX = Field(FieldType.STRING, "The path prefix of the leases to act on.")


def _lease_id(d: FieldData) -> str:
    """The lease id from the body, else the URL; Vault's errors for missing or mistyped."""
    raw = d.get("lease_id")
    if raw is not None and not isinstance(raw, str):
        raise InvalidRequestError("invalid lease ID")
    lease_id = raw or (d.get("url_lease_id") if "url_lease_id" in d.schema else "") or ""
    if not lease_id:
        raise InvalidRequestError("lease_id must be specified")
    return str(lease_id)


_RENEW_FIELDS = {
    "lease_id": _LEASE_ID,
    "url_lease_id": _URL_LEASE_ID,
    "increment": Field(
        FieldType.DURATION,
        "The requested TTL in seconds from now; 0 or absent uses the role's TTL.",
    ),
}
_REVOKE_FIELDS = {"lease_id": _LEASE_ID, "url_lease_id": _URL_LEASE_ID, "sync": _SYNC}
_LISTING = {
    "type": Field(FieldType.STRING, "Must be `irrevocable`."),
    "include_child_namespaces": Field(FieldType.BOOL, "Ignored: no namespaces."),
    "limit": Field(FieldType.STRING, "Ignored: every irrevocable lease is listed."),
}


def paths(core: Core) -> list[Path]:
    """The lease endpoints, plus the legacy sys/renew and sys/revoke forms Vault serves."""
    leases, mounts = core.leases, core.mounts
    table = [
        Path(
            "leases/lookup",
            {UPDATE: partial(lease_lookup, leases)},
            {"lease_id": _LEASE_ID},
            help_synopsis="View or list lease metadata.",
            help_description=LOOKUP_HELP,
        ),
        Path(
            r"leases/lookup/(?P<prefix>.+?)/?",
            {LIST: partial(lease_list, leases)},
            {"prefix": _PREFIX},
            help_synopsis="View or list lease metadata.",
            help_description=LOOKUP_HELP,
        ),
        Path(
            "leases/lookup/?",
            {LIST: partial(lease_list, leases)},
            {"prefix": _PREFIX},
            help_synopsis="List the top level of lease prefixes.",
        ),
        Path(
            r"leases/count",
            {READ: partial(lease_count, leases, mounts)},
            _LISTING,
            help_synopsis="Count irrevocable leases (type=irrevocable).",
        ),
        Path(
            r"leases",
            {READ: partial(lease_irrevocable, leases, mounts)},
            _LISTING,
            help_synopsis="List irrevocable leases (type=irrevocable).",
        ),
        Path(
            "leases/tidy",
            {UPDATE: partial(lease_tidy, leases, mounts)},
            help_synopsis="Clean up leases whose mount no longer exists.",
            help_description=TIDY_HELP,
            accepted=True,
        ),
    ]
    for base in ("leases/", ""):
        table += _renew_revoke_paths(leases, base)
    return table


def _renew_revoke_paths(leases: LeaseManager, base: str) -> list[Path]:
    """Renew and revoke paths under `base`: sys/leases/ and Vault's older sys/ forms."""
    return [
        Path(
            rf"{base}renew(?:/(?P<url_lease_id>.+))?",
            {UPDATE: partial(lease_renew, leases)},
            _RENEW_FIELDS,
            help_synopsis="Renew a lease on a secret",
            help_description=RENEW_HELP,
        ),
        Path(
            rf"{base}revoke(?:/(?P<url_lease_id>.+))?",
            {UPDATE: partial(lease_revoke, leases)},
            _REVOKE_FIELDS,
            help_synopsis="Revoke a leased secret immediately",
            help_description=REVOKE_HELP,
            accepted=True,
        ),
        Path(
            rf"{base}revoke-prefix/(?P<prefix>.+)",
            {UPDATE: partial(lease_revoke_prefix, leases)},
            {"prefix": _PREFIX, "sync": _SYNC},
            help_synopsis="Revoke all secrets generated in a given prefix",
            help_description=PREFIX_HELP,
            accepted=True,
        ),
        Path(
            rf"{base}revoke-force/(?P<prefix>.+)",
            {UPDATE: partial(lease_revoke_force, leases)},
            {"prefix": _PREFIX},
            help_synopsis="Revoke all secrets generated in a given prefix, ignoring errors.",
            help_description=FORCE_HELP,
        ),
    ]


async def lease_lookup(leases: LeaseManager, req: Request, d: FieldData) -> Response:
    lease = await leases.lookup(_lease_id(d))
    return Reply(data=lease.lookup_data(time.time()))


async def lease_list(leases: LeaseManager, req: Request, d: FieldData) -> Response:
    await leases.wait_restored()  # a listing right after start shows every lease
    keys = leases.list_keys(d.get("prefix") or "")
    if not keys:
        raise NotFoundError()
    return Reply(data={"keys": keys})


async def lease_renew(leases: LeaseManager, req: Request, d: FieldData) -> Response:
    lease_id = _lease_id(d)
    increment = d.get("increment")
    seconds = int(increment.total_seconds()) if increment is not None else 0
    renewal = await leases.renew(lease_id, seconds)
    return Reply(
        lease_id=renewal.lease.lease_id,
        renewable=renewal.lease.renewable,
        lease_duration=renewal.ttl,
        warnings=renewal.warnings,
    )


async def lease_revoke(leases: LeaseManager, req: Request, d: FieldData) -> Response | None:
    sync = bool(d.get("sync"))
    await leases.revoke(_lease_id(d), sync=sync)
    return None if sync else Reply(status=202, empty=True)


async def lease_revoke_prefix(leases: LeaseManager, req: Request, d: FieldData) -> Response | None:
    sync = bool(d.get("sync"))
    await leases.revoke_prefix(d.get("prefix"), sync=sync)
    return None if sync else Reply(status=202, empty=True)


async def lease_revoke_force(leases: LeaseManager, req: Request, d: FieldData) -> None:
    await leases.revoke_force(d.get("prefix"))


async def lease_tidy(
    leases: LeaseManager, mounts: MountTable, req: Request, d: FieldData
) -> Response:
    found = await leases.tidy(entry.path for entry in mounts.entries())
    logger.info("lease tidy finished stale_leases=%d", found)
    return Reply(
        status=202,
        warnings=[
            "Tidy operation successfully started. Any information from the operation "
            "will be printed to entra-broker's server logs."
        ],
    )


def _irrevocable_type(d: FieldData) -> None:
    if d.get("type") != "irrevocable":
        raise NotFoundError()


def _mount_id(mounts: MountTable, lease: Lease) -> str:
    """Vault names a lease's mount by its accessor."""
    entry = mounts.get(lease.mount)
    return entry.accessor if entry is not None else lease.mount


async def lease_count(
    leases: LeaseManager, mounts: MountTable, req: Request, d: FieldData
) -> Response:
    _irrevocable_type(d)
    counts: dict[str, int] = {}
    await leases.wait_restored()
    found = leases.irrevocable()
    for lease in found:
        mount_id = _mount_id(mounts, lease)
        counts[mount_id] = counts.get(mount_id, 0) + 1
    return Reply(data={"counts": counts, "lease_count": len(found)})


async def lease_irrevocable(
    leases: LeaseManager, mounts: MountTable, req: Request, d: FieldData
) -> Response:
    _irrevocable_type(d)
    await leases.wait_restored()
    found = leases.irrevocable()
    listed: list[dict[str, Any]] = [
        {"lease_id": le.lease_id, "mount_id": _mount_id(mounts, le), "error": le.revoke_error}
        for le in found
    ]
    return Reply(data={"lease_count": len(found), "leases": listed})


LOOKUP_HELP = """\
PUT sys/leases/lookup with a lease_id returns the lease's issue time, expire time,
last renewal and remaining TTL. LIST sys/leases/lookup/<prefix> lists the lease ids
under a prefix, one level at a time."""

RENEW_HELP = """\
When a secret is read, it may optionally include a lease interval
and a boolean indicating if renew is possible. For secrets that support
lease renewal, this endpoint is used to extend the validity of the
lease and to prevent an automatic revocation."""

REVOKE_HELP = """\
Revokes the credential behind a lease at once (sync=true, the default, answers 204)
or queues the revocation (sync=false, answers 202). An unknown lease is not an error."""

PREFIX_HELP = """\
Revokes every lease under a path prefix, for example entra/creds/alice. A prefix that
is itself a lease id revokes just that lease."""

FORCE_HELP = """\
Deletes every lease under a prefix even when the secrets engine cannot revoke the
credential. Use it only when the credential is known to be gone or is handled by hand:
the broker stops tracking it."""

TIDY_HELP = """\
Queues revocation of leases whose mount no longer exists."""
