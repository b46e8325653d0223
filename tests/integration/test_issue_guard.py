"""The engine's own issue rules (plugin/issue_guard.py), which hold in every host:
exclusive check-out and the per-role issue limit, driven through the real engine against
the emulator, the way a host calls it (the read's response, then its issue step)."""

from __future__ import annotations

import time

import pytest

from mount.sdk import InvalidRequestError, Operation, RateLimitedError, SecretRequest
from plugin import factory
from tests.integration.test_plugin_engine import (
    ALICE,
    BOB,
    Engine,
    emu,
    start_engine,
)

__all__ = ["emu"]


async def _configured(emu_server, options: dict[str, str] | None = None) -> Engine:
    engine = await start_engine(emu_server, options)
    assert await engine.configure() is None
    await engine.role("alice", user_principal_name=ALICE, ttl="10m", mode="exclusive")
    await engine.role("alice-ops", user_principal_name=ALICE, ttl="10m")
    await engine.role("bob", user_principal_name=BOB, ttl="10m")
    return engine


@pytest.fixture
async def guarded(emu):
    engine = await _configured(emu)
    yield engine
    await engine.backend.close()


async def _issue(engine: Engine, role: str) -> tuple[dict, dict]:
    """(the issued data, the internal data the host stores with the active lease)."""
    response = await engine.call(Operation.READ, f"creds/{role}")
    issued = await response.issue()
    internal = dict(response.secret.internal if issued.internal is None else issued.internal)
    return issued.data, internal


async def _revoke(engine: Engine, internal: dict) -> None:
    await engine.backend.secrets["entra_password"].revoke(
        SecretRequest(storage=engine.storage, internal=internal)
    )


async def test_an_exclusive_check_out_refuses_every_other_read_of_the_user(guarded):
    data, internal = await _issue(guarded, "alice")
    changes = await guarded.password_changes(ALICE)
    for role in ("alice", "alice-ops"):  # the same role, and a rotate role of the same user
        response = await guarded.call(Operation.READ, f"creds/{role}")
        with pytest.raises(InvalidRequestError) as refused:
            await response.issue()
        assert refused.value.message.startswith(
            f"the credential at entra/creds/{role} is checked out by a lease of "
            "entra/creds/alice issued at "
        ), refused.value.message
        assert refused.value.message.endswith(
            "(exclusive mode); revoke that lease or wait for it to end"
        )
    # Refused before any Entra call: the checked-out password still works.
    assert await guarded.password_changes(ALICE) == changes
    assert await guarded.signs_in(ALICE, data["password"])
    # Another user is not held.
    await _issue(guarded, "bob")

    await _revoke(guarded, internal)
    assert not await guarded.signs_in(ALICE, data["password"])
    again, _ = await _issue(guarded, "alice")
    assert await guarded.signs_in(ALICE, again["password"])


async def test_a_revoke_of_an_older_lease_does_not_free_a_newer_check_out(guarded):
    _, first = await _issue(guarded, "alice")
    await _revoke(guarded, first)
    await _issue(guarded, "alice")
    await _revoke(guarded, first)  # a retried revoke of the first lease, say
    response = await guarded.call(Operation.READ, "creds/alice")
    with pytest.raises(InvalidRequestError, match="exclusive mode"):
        await response.issue()


async def test_an_issue_that_failed_definitely_frees_its_check_out(guarded):
    await guarded.fault(match="PATCH /v1.0/users/.*", status=403, count=1)
    response = await guarded.call(Operation.READ, "creds/alice")
    with pytest.raises(Exception):  # noqa: B017  (the Graph refusal's own type)
        await response.issue()
    data, _ = await _issue(guarded, "alice")
    assert await guarded.signs_in(ALICE, data["password"])


async def test_a_check_out_whose_revoke_never_came_ends_at_its_max_ttl(guarded):
    await _issue(guarded, "alice")
    guard = guarded.backend.issue_guard
    guard.clock = lambda: time.time() + 24 * 3600  # past the lease's max TTL
    data, _ = await _issue(guarded, "alice")
    assert await guarded.signs_in(ALICE, data["password"])


async def test_the_issue_limit_counts_per_role_and_says_when_to_retry(emu):
    engine = await _configured(emu, {"role_issue_limit": "2", "role_issue_interval": "1m"})
    try:
        for _ in range(2):
            await _issue(engine, "bob")
        changes = await engine.password_changes(BOB)
        response = await engine.call(Operation.READ, "creds/bob")
        with pytest.raises(RateLimitedError) as refused:
            await response.issue()
        assert refused.value.message.startswith(
            "too many credentials issued for entra/creds/bob: the limit is 2 per 1m "
            "(role_issue_limit); retry in "
        )
        assert 1 <= refused.value.retry_after <= 60
        assert await engine.password_changes(BOB) == changes  # the refused read reset nothing
        await _issue(engine, "alice-ops")  # another role has its own window
    finally:
        await engine.backend.close()


async def test_the_default_limit_is_thirty_a_minute_and_zero_turns_it_off(emu):
    engine = await start_engine(emu)
    unlimited = await start_engine(emu, {"role_issue_limit": "0"})
    try:
        assert (
            engine.backend.issue_guard.limiter.limit,
            engine.backend.issue_guard.limiter.interval,
        ) == (30, 60.0)
        assert unlimited.backend.issue_guard.limiter.limit == 0
    finally:
        await engine.backend.close()
        await unlimited.backend.close()


@pytest.mark.parametrize(
    ("options", "sentence"),
    [
        ({"role_issue_limit": "many"}, "invalid mount option role_issue_limit='many'"),
        ({"role_issue_limit": "-1"}, "invalid mount option role_issue_limit='-1'"),
        ({"role_issue_interval": "soon"}, "invalid mount option role_issue_interval='soon'"),
    ],
)
async def test_a_mistyped_mount_option_fails_the_mount_with_a_sentence(options, sentence, tmp_path):
    import logging
    from datetime import timedelta

    from mount.sdk import BackendConfig
    from mount.sdk.testing import MemoryStorage

    with pytest.raises(InvalidRequestError) as refused:
        await factory(
            BackendConfig(
                storage=MemoryStorage(),
                logger=logging.getLogger("tests"),
                default_lease_ttl=timedelta(hours=1),
                max_lease_ttl=timedelta(hours=1),
                config=options,
            )
        )
    assert refused.value.message.startswith(sentence)
