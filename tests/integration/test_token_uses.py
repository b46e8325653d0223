"""num_uses: a limited token serves exactly that many requests, even when they race."""

from __future__ import annotations

import asyncio

from mount.build import BrokerOptions, build_core, ensure_root_token
from mount.sdk.errors import PermissionDeniedError
from mount.sdk.logical import Operation
from mount.storage.store import MemoryStore


async def test_concurrent_requests_never_exceed_num_uses():
    core = await build_core(BrokerOptions(store=MemoryStore()))
    root = await ensure_root_token(core, "root")
    assert root == "root"
    created = await core.handle_internal(
        Operation.UPDATE, "auth/token/create", {"policies": ["default"], "num_uses": 3}, "root"
    )
    assert created is not None and created.auth is not None
    token = created.auth["client_token"]

    async def lookup() -> bool:
        try:
            await core.handle_internal(Operation.READ, "auth/token/lookup-self", {}, token)
        except PermissionDeniedError:
            return False
        return True

    results = await asyncio.gather(*(lookup() for _ in range(12)))
    assert results.count(True) == 3
    assert await core.tokens.lookup(token) is None  # ended after its last use


async def test_a_request_arriving_during_the_last_use_is_refused():
    core = await build_core(BrokerOptions(store=MemoryStore()))
    await ensure_root_token(core, "root")
    created = await core.handle_internal(
        Operation.UPDATE, "auth/token/create", {"policies": ["default"], "num_uses": 1}, "root"
    )
    assert created is not None and created.auth is not None
    token = created.auth["client_token"]
    entry = await core.tokens.lookup(token)
    assert entry is not None
    # The last use has started (and not yet ended the token): the store marks it -1.
    _, last = await core.tokens.use(entry)
    assert last and (await core.tokens.lookup(token)).num_uses == -1
    try:
        await core.handle_internal(Operation.READ, "auth/token/lookup-self", {}, token)
    except PermissionDeniedError:
        pass
    else:
        raise AssertionError("a request passed while the token's last use was in flight")
