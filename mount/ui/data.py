"""What several pages read through the API: the engine's mounts, roles and leases."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mount.ui.api import ApiFailure, UiApi
from mount.ui.sessions import Session

__all__ = ["LeaseRow", "engine_mounts", "lease_rows", "leases_under", "parse_time", "role_names"]

# A lease table shows at most this many rows (the soonest to expire); the rest are counted.
MAX_LEASE_ROWS = 500


@dataclass(frozen=True, slots=True)
class LeaseRow:
    lease_id: str
    role: str
    issued: float
    expires: float
    renewable: bool

    @property
    def expires_iso(self) -> str:
        return datetime.fromtimestamp(self.expires).astimezone().isoformat(timespec="seconds")

    @property
    def issued_iso(self) -> str:
        return datetime.fromtimestamp(self.issued).astimezone().isoformat(timespec="seconds")


def parse_time(text: str) -> float:
    """Vault's RFC 3339 times (nanoseconds, Z) as epoch seconds."""
    head, _, fraction = text.rstrip("Z").partition(".")
    whole = datetime.strptime(head + "+0000", "%Y-%m-%dT%H:%M:%S%z").timestamp()
    return whole + (float("0." + fraction) if fraction else 0.0)


async def engine_mounts(
    api: UiApi, session: Session, types: tuple[str, ...], remote: str = ""
) -> dict[str, dict[str, Any]]:
    """The secrets mounts of these engine types that the token reaches, by path."""
    answer = await api.call(session.token, "GET", "sys/internal/ui/mounts", remote=remote)
    secret = answer.data.get("secret") or {}
    return {
        path: entry
        for path, entry in sorted(secret.items())
        if isinstance(entry, dict) and entry.get("type") in types
    }


async def role_names(api: UiApi, session: Session, mount: str, remote: str = "") -> list[str]:
    """LIST <mount>roles; [] when there are none (the API's 404)."""
    try:
        answer = await api.call(session.token, "LIST", f"{mount}roles", remote=remote)
    except ApiFailure as exc:
        if exc.status == 404:
            return []
        raise
    return [str(k) for k in answer.data.get("keys") or []]


async def _keys(api: UiApi, token: str, prefix: str, remote: str) -> list[str]:
    try:
        answer = await api.call(token, "LIST", f"sys/leases/lookup/{prefix}", remote=remote)
    except ApiFailure as exc:
        if exc.status == 404:
            return []
        raise
    return [str(k) for k in answer.data.get("keys") or []]


async def leases_under(
    api: UiApi, session: Session, mount: str, role: str | None = None, remote: str = ""
) -> tuple[list[LeaseRow], int]:
    """The live leases of one role (or of every role of the mount), expiring next first,
    at most MAX_LEASE_ROWS of them, and how many there are in all."""
    base = f"{mount}creds/"
    if role is not None:
        prefixes = [f"{base}{role}/"]
    else:
        prefixes = [f"{base}{k}" for k in await _keys(api, session.token, base, remote)]
        prefixes = [p for p in prefixes if p.endswith("/")]
    ids: list[str] = []
    for prefix in prefixes:
        ids += [prefix + k for k in await _keys(api, session.token, prefix, remote)]
    return await lease_rows(api, session, mount, ids, remote)


async def lease_rows(
    api: UiApi, session: Session, mount: str, ids: list[str], remote: str = ""
) -> tuple[list[LeaseRow], int]:
    """The live ones among these leases, looked up (`sys/leases/lookup`, which the
    default policy allows), expiring next first, at most MAX_LEASE_ROWS of them, and how
    many there are in all."""
    base = f"{mount}creds/"

    async def lookup(lease_id: str) -> LeaseRow | None:
        try:
            found = await api.call(
                session.token, "PUT", "sys/leases/lookup", {"lease_id": lease_id}, remote=remote
            )
        except ApiFailure:
            return None  # revoked or expired since it was listed
        data = found.data
        return LeaseRow(
            lease_id=lease_id,
            role=lease_id[len(base) :].rsplit("/", 1)[0],
            issued=parse_time(str(data["issue_time"])),
            expires=parse_time(str(data["expire_time"])),
            renewable=bool(data.get("renewable")),
        )

    now = time.time()
    found = await asyncio.gather(*map(lookup, ids))
    # Irrevocable leases (expired, revocation failing) are the irrevocable page's.
    rows = [row for row in found if row is not None and row.expires > now]
    rows.sort(key=lambda r: (r.expires, r.lease_id))
    return rows[:MAX_LEASE_ROWS], len(rows)
