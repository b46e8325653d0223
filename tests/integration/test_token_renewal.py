"""Token renewal that asks the issuing auth method: what happens while the method answers."""

from __future__ import annotations

import asyncio

import pytest

from mount.sdk.errors import InvalidRequestError, VaultError
from mount.sdk.testing import MemoryStorage
from mount.sdk.ttl import TTLLimits
from mount.tokens.store import TokenEntry, TokenStore

HOUR = 3600


async def login_token(tokens: TokenStore, **fields: object) -> tuple[str, TokenEntry]:
    return await tokens.create(
        policies=["default"], ttl=60, path="auth/approle/login", orphan=True, **fields
    )


async def test_a_token_revoked_while_its_method_approves_stays_revoked() -> None:
    tokens = TokenStore(MemoryStorage(), max_ttl=HOUR)
    token, entry = await login_token(tokens)

    async def approve_slowly(found: TokenEntry) -> TTLLimits:
        await tokens.revoke_entry(found)  # a revoke lands while the method answers
        return TTLLimits(mount_default=HOUR, mount_max=HOUR)

    tokens.renew_approver = approve_slowly
    with pytest.raises(InvalidRequestError, match="token not found"):
        await tokens.renew(entry, 600)
    assert await tokens.lookup(token) is None  # not brought back by the renewal


async def test_a_use_counted_while_its_method_approves_is_not_given_back() -> None:
    tokens = TokenStore(MemoryStorage(), max_ttl=HOUR)
    token, entry = await login_token(tokens, num_uses=5)
    stale = entry
    asked, gate = asyncio.Event(), asyncio.Event()

    async def approve_after_a_use(found: TokenEntry) -> TTLLimits:
        asked.set()
        await gate.wait()
        return TTLLimits(mount_default=HOUR, mount_max=HOUR)

    tokens.renew_approver = approve_after_a_use
    renewal = asyncio.create_task(tokens.renew(stale, 600))
    await asyncio.wait_for(asked.wait(), 5)
    used, _ = await tokens.use(entry)
    assert used.num_uses == 4
    gate.set()
    renewed, _ = await renewal
    assert renewed.num_uses == 4
    found = await tokens.lookup(token)
    assert found is not None and found.num_uses == 4 and found.ttl_left(0) > 0


async def test_a_login_token_is_not_renewed_without_an_auth_method_to_ask() -> None:
    tokens = TokenStore(MemoryStorage(), max_ttl=HOUR)
    _, entry = await login_token(tokens)
    with pytest.raises(VaultError, match="no auth method can renew tokens issued at"):
        await tokens.renew(entry, 600)
