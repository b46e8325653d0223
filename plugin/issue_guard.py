"""The engine's own rules for every issue, so that they hold in every host.

Two rules our server once enforced in its lease manager now live here, because OpenBao's
core knows neither: the per-role issue limit (every issue is an Entra password reset, and
a looping client must not become a reset storm) and exclusive check-out (while a lease
of an exclusive role is live, no other read gets a credential of that user).

Both run inside the issue step, after the host has covered it with a pending lease (our
server) or a write-ahead entry (goplugin): a refusal there is a definite failure, so the
host drops that cover without calling revoke. A check-out is a record in the mount's
storage, `checkout/<holder>`, written before the Entra call and removed by the lease's
revoke; the lease's internal data names it, so only that lease's revoke removes it. The
record also holds the furthest time the lease can live (its max TTL): a record whose
revoke never came (a force-revoked lease) stops counting then.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from mount.sdk import (
    InvalidRequestError,
    Issued,
    Response,
    SecretRequest,
    SecretType,
    Storage,
)
from mount.sdk.errors import definitely_failed
from mount.sdk.ratelimit import limiter_from_options
from plugin.models import Mode, Role

__all__ = ["CHECKOUT_FIELD", "CHECKOUT_PREFIX", "IssueGuard"]

CHECKOUT_PREFIX = "checkout/"
# In a lease's internal data: {"holder": <holder key>, "id": <check-out id>}.
CHECKOUT_FIELD = "checkout"


@dataclass(frozen=True, slots=True)
class Checkout:
    """Who holds a user's credential exclusively, and until when at the latest."""

    id: str
    path: str
    issued: float
    expires: float

    def to_storage(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "issued": self.issued, "expires": self.expires}

    @classmethod
    def from_storage(cls, data: Any) -> Checkout | None:
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(
                str(data["id"]),
                str(data.get("path", "")),
                float(data.get("issued", 0.0)),
                float(data["expires"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def _rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IssueGuard:
    """One mount's issue limit and check-outs; `options` are the mount's (BackendConfig)."""

    def __init__(
        self,
        options: Mapping[str, str],
        mount_point: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limiter = limiter_from_options(options)
        self.mount_point = mount_point
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}

    def guard(self, response: Response, role: Role, storage: Storage) -> Response:
        """The same response, its issue step wrapped in the limit and the check-out."""
        spec, inner = response.secret, response.issue
        if spec is None or inner is None:
            return response
        path = f"{self.mount_point}creds/{role.name}"
        holder = spec.holder_key
        claim = None
        internal: Mapping[str, Any] = spec.internal
        if holder and role.mode is Mode.EXCLUSIVE:
            claim = {"holder": holder, "id": secrets.token_hex(8)}
            # In the pending form too: a revoke of the pending lease frees the check-out.
            internal = {**spec.internal, CHECKOUT_FIELD: claim}
        lifetime = spec.max_ttl.total_seconds()

        async def issue() -> Issued:
            self.limiter.acquire(path)
            if holder:
                claim_id = None if claim is None else claim["id"]
                await self._claim(storage, holder, path, claim_id, lifetime)
            try:
                issued = await inner()
            except BaseException as exc:
                if claim is not None and definitely_failed(exc):
                    await self._release(storage, holder or "", claim["id"])
                raise
            if claim is None:
                return issued
            created = spec.internal if issued.internal is None else issued.internal
            return Issued(issued.data, {**created, CHECKOUT_FIELD: claim})

        return replace(response, secret=replace(spec, internal=internal), issue=issue)

    def revoking(self, secret_type: SecretType) -> SecretType:
        """The secret type, its revoke also ending the lease's check-out once it succeeded."""
        return replace(secret_type, revoke=partial(self._revoke, secret_type.revoke))

    async def _revoke(self, inner: Any, req: SecretRequest) -> None:
        await inner(req)
        claim = req.internal.get(CHECKOUT_FIELD)
        if isinstance(claim, Mapping) and claim.get("holder") and claim.get("id"):
            await self._release(req.storage, str(claim["holder"]), str(claim["id"]))

    async def _claim(
        self, storage: Storage, holder: str, path: str, claim_id: str | None, lifetime: float
    ) -> None:
        """Refuse while another lease holds `holder` exclusively; else record this one's."""
        key = CHECKOUT_PREFIX + holder
        async with self._locks.setdefault(holder, asyncio.Lock()):
            now = self.clock()
            current = Checkout.from_storage(await storage.get(key))
            if current is not None and current.expires > now and current.id != claim_id:
                # The lease id is OpenBao's to choose, and not told to the engine: the
                # path and the issue time are what `list sys/leases/lookup/<path>/` shows.
                held_by = f"a lease of {current.path}" if current.path else "another lease"
                raise InvalidRequestError(
                    f"the credential at {path} is checked out by {held_by} issued at "
                    f"{_rfc3339(current.issued)} (exclusive mode); revoke that lease or "
                    "wait for it to end"
                )
            if claim_id is not None:
                checkout = Checkout(claim_id, path, now, now + lifetime)
                await storage.put(key, checkout.to_storage())

    async def _release(self, storage: Storage, holder: str, claim_id: str) -> None:
        key = CHECKOUT_PREFIX + holder
        async with self._locks.setdefault(holder, asyncio.Lock()):
            current = Checkout.from_storage(await storage.get(key))
            if current is not None and current.id == claim_id:
                await storage.delete(key)
