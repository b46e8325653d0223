"""Named ACL policies in storage, and the ACL of a token's policy set (cached)."""

from __future__ import annotations

import logging
import time
from typing import Any

from mount.ids import rfc3339
from mount.policy.acl import ACL, ROOT_ACL
from mount.policy.language import (
    DEFAULT_POLICY,
    RESPONSE_WRAPPING_POLICY,
    RESPONSE_WRAPPING_POLICY_NAME,
    Policy,
    is_policy_name,
    parse_policy,
    valid_policy_name,
)
from mount.sdk.errors import InvalidRequestError
from mount.sdk.logical import Storage

__all__ = ["PolicyStore"]

logger = logging.getLogger(__name__)

_PREFIX = "policy/acl/"


class PolicyStore:
    """`default` is created once and may be edited; `root` is built in and never stored."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._policies: dict[str, Policy | None] = {}
        self._acls: dict[tuple[str, ...], ACL] = {}

    async def ensure_default(self) -> None:
        if await self._storage.get(_PREFIX + "default") is None:
            await self.put("default", DEFAULT_POLICY)

    async def get(self, name: str) -> Policy | None:
        name = name.lower()
        if name in self._policies:
            return self._policies[name]
        if name == RESPONSE_WRAPPING_POLICY_NAME:  # built in, as root is
            return parse_policy(name, RESPONSE_WRAPPING_POLICY)
        raw = await self._storage.get(_PREFIX + name) if name != "root" else None
        policy = parse_policy(name, str(raw["policy"])) if isinstance(raw, dict) else None
        self._policies[name] = policy
        return policy

    async def record(self, name: str) -> dict[str, Any] | None:
        if not is_policy_name(name):
            return None  # no policy can have this name: missing, as Vault reads it (404)
        raw = await self._storage.get(_PREFIX + valid_policy_name(name))
        return raw if isinstance(raw, dict) else None

    async def put(self, name: str, text: str) -> Policy:
        name = valid_policy_name(name)
        if name in ("root", RESPONSE_WRAPPING_POLICY_NAME):
            raise InvalidRequestError(f'cannot update "{name}" policy')
        policy = parse_policy(name, text)  # a 400 before anything is written
        previous = await self.record(name)
        version = int(previous.get("version", 0)) + 1 if previous else 1
        await self._storage.put(
            _PREFIX + name,
            {"name": name, "policy": text, "version": version, "modified": rfc3339(time.time())},
        )
        self._changed(name, policy)
        logger.info("policy written name=%s version=%d", name, version)
        return policy

    async def delete(self, name: str) -> None:
        if not is_policy_name(name):
            return  # nothing can be stored under it; Vault's delete of a missing policy is a 204
        name = valid_policy_name(name)
        if name in ("root", "default", RESPONSE_WRAPPING_POLICY_NAME):
            raise InvalidRequestError(f'cannot delete "{name}" policy')
        await self._storage.delete(_PREFIX + name)
        self._changed(name, None)
        logger.info("policy deleted name=%s", name)

    async def names(self) -> list[str]:
        stored = await self._storage.list(_PREFIX)
        return sorted({*stored, "root"})

    async def acl(self, policies: tuple[str, ...]) -> ACL:
        """The ACL of a token's policies; policies that do not exist add nothing, as in Vault."""
        if "root" in policies:
            return ROOT_ACL
        key = tuple(sorted(set(policies)))
        found = self._acls.get(key)
        if found is None:
            loaded = [await self.get(name) for name in key]
            found = ACL(p for p in loaded if p is not None)
            self._acls[key] = found
        return found

    def _changed(self, name: str, policy: Policy | None) -> None:
        self._policies[name] = policy
        self._acls.clear()  # any cached set may include it
