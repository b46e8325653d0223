"""The token store: Vault-style service tokens, kept only as SHA-256 hashes."""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mount.ids import random_id, rfc3339
from mount.sdk.cidrs import address_in
from mount.sdk.errors import InvalidRequestError, PermissionDeniedError, VaultError, multierror
from mount.sdk.logical import BatchStorage
from mount.sdk.ttl import TTLLimits, calculate_ttl

__all__ = [
    "TOKEN_MOUNT",
    "RenewApprover",
    "TokenEntry",
    "TokenStore",
    "hash_token",
]

logger = logging.getLogger(__name__)

ID_PREFIX = "token/id/"
ACCESSOR_PREFIX = "token/accessor/"
# token/parent/<parent accessor>/<child accessor>: children are revoked with their parent.
PARENT_PREFIX = "token/parent/"
ROOT_MARKER = "token/root-generated"
# Tokens created here (not by a login) are renewed by the token store's own rules.
TOKEN_MOUNT = "auth/token/"
RevokeHook = Callable[["TokenEntry"], Awaitable[None]]
# Asks the auth method that issued a login token whether, and within what, it may be
# renewed; raises to refuse (Vault's core routing a renewal to the method's AuthRenew).
RenewApprover = Callable[["TokenEntry"], Awaitable[TTLLimits]]


def hash_token(token: str) -> str:
    """Tokens carry 143 bits of randomness, so a plain SHA-256 is a safe at-rest form."""
    # A header that is not UTF-8 arrives with surrogate escapes: hash it, never fail.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """A token's record; the token itself is never stored, only `token_hash`."""

    token_hash: str = field(repr=False)
    accessor: str
    policies: tuple[str, ...]
    creation_time: float
    creation_ttl: int
    expire_time: float | None
    explicit_max_ttl: int = 0
    renewable: bool = False
    display_name: str = "token"
    path: str = "auth/token/create"
    num_uses: int = 0
    orphan: bool = True
    parent_accessor: str = ""
    meta: dict[str, str] | None = None
    period: int = 0
    # Renewals stop at creation + max_ttl (a login role's token_max_ttl); 0: system max.
    max_ttl: int = 0
    # CIDR blocks the token may be used from (Vault's token_bound_cidrs); empty: anywhere.
    bound_cidrs: tuple[str, ...] = ()
    # What the issuing auth method keeps for renewals (LoginSpec.internal); never shown.
    internal: dict[str, Any] | None = None
    # The token role it was created against (auth/token/create/<role>); empty: none.
    role: str = ""

    @property
    def is_root(self) -> bool:
        return "root" in self.policies

    def to_storage(self) -> dict[str, Any]:
        data = asdict(self)
        data["policies"] = list(self.policies)
        data["bound_cidrs"] = list(self.bound_cidrs)
        return data

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> TokenEntry:
        values = dict(data)
        values["policies"] = tuple(values.get("policies", ()))
        values["bound_cidrs"] = tuple(values.get("bound_cidrs", ()))
        return cls(**values)

    def allows_address(self, remote: str) -> bool:
        """Whether a request from `remote` may use the token (its bound CIDRs, if any)."""
        return not self.bound_cidrs or address_in(self.bound_cidrs, remote)

    def ttl_left(self, now: float) -> int:
        if self.expire_time is None:
            return 0
        return max(0, int(self.expire_time - round(now)))

    def lookup_data(self, token: str, now: float) -> dict[str, Any]:
        """The `data` of lookup-self, in Vault's field order (sorted, as Go prints a map)."""
        data: dict[str, Any] = {
            "accessor": self.accessor,
            "creation_time": int(self.creation_time),
            "creation_ttl": self.creation_ttl,
            "display_name": self.display_name,
            "entity_id": "",
            "expire_time": None if self.expire_time is None else rfc3339(self.expire_time),
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": token,
            "issue_time": rfc3339(self.creation_time),
            "meta": self.meta,
            "num_uses": self.num_uses,
            "orphan": self.orphan,
            "path": self.path,
            "policies": list(self.policies),
            "renewable": self.renewable,
            "ttl": self.ttl_left(now),
            "type": "service",
        }
        if not self.bound_cidrs and not self.period and not self.role:
            return data
        # Vault shows these only when set.
        if self.role:
            data["role"] = self.role
        if self.bound_cidrs:
            data["bound_cidrs"] = list(self.bound_cidrs)
        if self.period:
            data["period"] = self.period
        return dict(sorted(data.items()))

    def auth_block(self, token: str, now: float) -> dict[str, Any]:
        """The `auth` object of create/renew-self/login responses."""
        return {
            "client_token": token,
            "accessor": self.accessor,
            "policies": list(self.policies),
            "token_policies": list(self.policies),
            "metadata": self.meta,
            "lease_duration": 0 if self.expire_time is None else round(self.expire_time - now),
            "renewable": self.renewable,
            "entity_id": "",
            "token_type": "service",
            "orphan": self.orphan,
            "mfa_requirement": None,
            "num_uses": self.num_uses,
        }


class TokenStore:
    """Creates, looks up, renews and revokes tokens; entries are cached in memory by hash."""

    def __init__(self, storage: BatchStorage, *, max_ttl: int, default_ttl: int = 0) -> None:
        self._storage = storage
        # The system's lease TTLs: they bound the tokens created here.
        self._max_ttl = max_ttl
        self._default_ttl = default_ttl or max_ttl
        self._system_ttls = (self._default_ttl, self._max_ttl)
        # Only found tokens are cached: caching misses would let random tokens grow it.
        self._cache: dict[str, TokenEntry] = {}
        self._lock = asyncio.Lock()
        # Called for each revoked token (its leases are revoked with it, as in Vault).
        self.on_revoke: list[RevokeHook] = []
        # Set by the auth table: renewals of login tokens ask their auth method.
        self.renew_approver: RenewApprover | None = None
        # (expire_time, token hash); stale entries are skipped when popped.
        self._expiry: list[tuple[float, str]] = []
        self.expiry_changed = asyncio.Event()

    def tune(self, default_ttl: int, max_ttl: int) -> None:
        """The auth/token/ mount's tuned TTLs for tokens created from now; 0: the system's."""
        system_default, system_max = self._system_ttls
        self._max_ttl = max_ttl or system_max
        self._default_ttl = default_ttl or min(system_default, self._max_ttl)

    @property
    def limits(self) -> TTLLimits:
        """The TTL bounds of tokens created at auth/token/ (the system's lease TTLs)."""
        return TTLLimits(mount_default=self._default_ttl, mount_max=self._max_ttl)

    async def create(
        self,
        *,
        policies: list[str],
        ttl: int,
        explicit_max_ttl: int = 0,
        renewable: bool = True,
        display_name: str = "token",
        token_id: str | None = None,
        parent: TokenEntry | None = None,
        orphan: bool = False,
        num_uses: int = 0,
        meta: dict[str, str] | None = None,
        period: int = 0,
        path: str = "auth/token/create",
        max_ttl: int = 0,
        bound_cidrs: tuple[str, ...] = (),
        internal: dict[str, Any] | None = None,
        role: str = "",
    ) -> tuple[str, TokenEntry]:
        """Store a token; returns the token text (shown once) and its record.

        `ttl` is final (the caller applied Vault's TTL rules); 0 means the token never
        expires, and such a token is not renewable.
        """
        token = token_id or f"s.{random_id()}"
        now = time.time()
        entry = TokenEntry(
            token_hash=hash_token(token),
            accessor=random_id(),
            policies=tuple(policies),
            creation_time=now,
            creation_ttl=ttl,
            expire_time=None if ttl == 0 else now + ttl,
            explicit_max_ttl=explicit_max_ttl,
            renewable=renewable and ttl > 0,
            display_name=display_name,
            num_uses=num_uses,
            orphan=orphan or parent is None,
            parent_accessor="" if parent is None or orphan else parent.accessor,
            meta=meta,
            period=period,
            path=path,
            max_ttl=max_ttl,
            bound_cidrs=tuple(bound_cidrs),
            internal=internal,
            role=role,
        )
        if await self._storage.get(ID_PREFIX + entry.token_hash) is not None:
            raise InvalidRequestError("cannot create a token with an id that is already in use")
        await self._save(entry)
        logger.info("token created accessor=%s policies=%s", entry.accessor, ",".join(policies))
        return token, entry

    async def _save(self, entry: TokenEntry) -> None:
        changes: dict[str, Any] = {
            ID_PREFIX + entry.token_hash: entry.to_storage(),
            ACCESSOR_PREFIX + entry.accessor: entry.token_hash,
        }
        if entry.parent_accessor:
            changes[f"{PARENT_PREFIX}{entry.parent_accessor}/{entry.accessor}"] = True
        await self._storage.put_many(changes)
        self._cache[entry.token_hash] = entry
        self._schedule(entry)

    def _schedule(self, entry: TokenEntry) -> None:
        if entry.expire_time is None:
            return
        heapq.heappush(self._expiry, (entry.expire_time, entry.token_hash))
        if self._expiry[0][1] == entry.token_hash:
            self.expiry_changed.set()

    async def load(self) -> int:
        """Read every token at start, so expiry (and its lease revocation) needs no lookup."""
        for key in await self._storage.list(ID_PREFIX):
            raw = await self._storage.get(ID_PREFIX + key)
            if isinstance(raw, dict):
                entry = TokenEntry.from_storage(raw)
                self._cache[entry.token_hash] = entry
                self._schedule(entry)
        return len(self._cache)

    def next_expiry(self) -> float | None:
        return self._expiry[0][0] if self._expiry else None

    async def revoke_expired(self, now: float) -> int:
        """Revoke the tokens whose TTL has run out; returns how many."""
        count = 0
        while self._expiry and self._expiry[0][0] <= now:
            expire_time, digest = heapq.heappop(self._expiry)
            entry = self._cache.get(digest)
            if entry is None or entry.expire_time != expire_time:
                continue  # revoked or renewed since it was scheduled
            logger.info("token expired accessor=%s", entry.accessor)
            await self.revoke_entry(entry)
            count += 1
        return count

    async def use(self, entry: TokenEntry) -> tuple[TokenEntry, bool]:
        """Count one use of a limited-use token; True when that was its last."""
        async with self._lock:
            current = self._cache.get(entry.token_hash, entry)
            if current.num_uses <= 0:
                raise PermissionDeniedError()  # its last use is being served already
            used = replace(current, num_uses=current.num_uses - 1)
            last = used.num_uses == 0
            # -1 marks "last use in flight": a concurrent request must not pass.
            await self._save(replace(used, num_uses=-1) if last else used)
            return used, last

    def limited_use(self, entry: TokenEntry) -> bool:
        """Whether the token has a use limit, its last use in flight included.

        The record a request carries has its use already counted (0 after the last), so
        the store's record decides: it holds -1 while that last use is being served.
        """
        return self._cache.get(entry.token_hash, entry).num_uses != 0

    async def lookup(self, token: str) -> TokenEntry | None:
        """The live record for a token, or None (unknown or expired)."""
        if not token:
            return None
        digest = hash_token(token)
        entry = self._cache.get(digest)
        if entry is None:
            raw = await self._storage.get(ID_PREFIX + digest)
            if raw is None:
                return None
            entry = TokenEntry.from_storage(raw)
            self._cache[digest] = entry
        if entry is not None and entry.expire_time is not None and entry.expire_time <= time.time():
            await self.revoke_entry(entry)
            return None
        return entry

    async def require(self, token: str, *, remote: str = "") -> TokenEntry:
        """The live record for a token used from `remote`; 403 if unknown or out of its CIDRs."""
        entry = await self.lookup(token)
        if entry is None or not entry.allows_address(remote):
            raise PermissionDeniedError()
        return entry

    async def by_accessor(self, accessor: str) -> TokenEntry:
        digest = await self._storage.get(ACCESSOR_PREFIX + accessor) if accessor else None
        raw = await self._storage.get(ID_PREFIX + digest) if isinstance(digest, str) else None
        if raw is None:
            raise InvalidRequestError(multierror("invalid accessor"))
        return TokenEntry.from_storage(raw)

    async def renew(self, entry: TokenEntry, increment: int) -> tuple[TokenEntry, list[str]]:
        """Extend a token from now by `increment` (0: its usual TTL), within its maxes.

        A login token's auth method is asked first, and may refuse (a deleted role);
        returns the renewed record and Vault's warnings when a max cut the TTL.
        """
        if not entry.renewable or entry.expire_time is None:
            raise InvalidRequestError("lease is not renewable")
        limits = await self._renewal_limits(entry)
        now = time.time()
        ttl, warnings = calculate_ttl(
            limits, start=entry.creation_time, now=now, increment=increment
        )
        # The approval awaited: the token may have been revoked or used meanwhile, and a
        # stale record must neither come back nor restore spent uses.
        current = self._cache.get(entry.token_hash)
        if current is None:
            raise InvalidRequestError("token not found")
        renewed = replace(current, expire_time=now + ttl)
        await self._save(renewed)
        return renewed, warnings

    async def _renewal_limits(self, entry: TokenEntry) -> TTLLimits:
        if entry.path.startswith(TOKEN_MOUNT):
            # Vault's token store: the token's own TTL, period and explicit max.
            return replace(
                self.limits,
                ttl=entry.creation_ttl,
                max_ttl=entry.max_ttl,
                period=entry.period,
                explicit_max_ttl=entry.explicit_max_ttl,
            )
        if self.renew_approver is None:
            raise VaultError(f"no auth method can renew tokens issued at {entry.path}")
        return await self.renew_approver(entry)

    async def revoke_entry(self, entry: TokenEntry) -> None:
        """Revoke a token and every token created under it, children first."""
        for child in await self._children(entry.accessor):
            await self.revoke_entry(child)
        await self._revoke_one(entry)

    async def revoke_orphan(self, entry: TokenEntry) -> None:
        """Revoke only this token; its children live on as orphans."""
        for child in await self._children(entry.accessor):
            await self._save(replace(child, parent_accessor="", orphan=True))
        await self._revoke_one(entry)

    async def _children(self, accessor: str) -> list[TokenEntry]:
        found = []
        for child in await self._storage.list(f"{PARENT_PREFIX}{accessor}/"):
            digest = await self._storage.get(ACCESSOR_PREFIX + child)
            raw = await self._storage.get(ID_PREFIX + digest) if isinstance(digest, str) else None
            if isinstance(raw, dict):
                found.append(TokenEntry.from_storage(raw))
        return found

    async def _revoke_one(self, entry: TokenEntry) -> None:
        for hook in self.on_revoke:
            await hook(entry)
        changes: dict[str, Any] = {
            ID_PREFIX + entry.token_hash: None,
            ACCESSOR_PREFIX + entry.accessor: None,
        }
        if entry.parent_accessor:
            changes[f"{PARENT_PREFIX}{entry.parent_accessor}/{entry.accessor}"] = None
        for child in await self._storage.list(f"{PARENT_PREFIX}{entry.accessor}/"):
            changes[f"{PARENT_PREFIX}{entry.accessor}/{child}"] = None
        await self._storage.put_many(changes)
        self._cache.pop(entry.token_hash, None)
        logger.info("token revoked accessor=%s", entry.accessor)

    async def accessors(self) -> list[str]:
        return await self._storage.list(ACCESSOR_PREFIX)

    async def revoke_by_path(self, prefix: str) -> int:
        """Revoke every token created at a path under `prefix` (a disabled auth mount's)."""
        revoked = 0
        for digest in await self._storage.list(ID_PREFIX):
            raw = await self._storage.get(ID_PREFIX + digest)
            if raw is None:
                continue
            entry = TokenEntry.from_storage(raw)
            if entry.path.startswith(prefix):
                await self.revoke_entry(entry)
                revoked += 1
        return revoked

    async def root_created(self) -> bool:
        """Whether a root token was ever generated for this storage (it is shown once)."""
        return bool(await self._storage.get(ROOT_MARKER))

    async def mark_root_created(self) -> None:
        await self._storage.put(ROOT_MARKER, True)

    async def count(self) -> int:
        return len(await self._storage.list(ID_PREFIX))
