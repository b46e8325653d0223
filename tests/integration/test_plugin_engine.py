"""The Entra engine (plugin/) against the emulator over real HTTPS: no mocks, real msal."""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from emulator import EmulatorServer, EmulatorSettings, check_password
from mount.sdk import (
    BackendConfig,
    InvalidRequestError,
    NotFoundError,
    Operation,
    Request,
    Response,
    SecretRequest,
    UnavailableError,
    UpstreamError,
)
from mount.sdk.testing import MemoryStorage
from plugin import factory
from plugin.graph import GraphBusyError
from tests.waiting import wait_until

TENANT = "8f1c2d3e-0000-4000-8000-00000000aaaa"
CLIENT = "5b6c7d8e-0000-4000-8000-00000000bbbb"
SECRET = "emulated~client~secret~value-0123456789"
ALICE = "alice@example.test"
BOB = "bob@example.test"
CAROL = "carol@example.test"


@dataclass
class Engine:
    """The backend, its storage, and the emulator it talks to."""

    backend: Any
    storage: MemoryStorage
    emu: EmulatorServer

    async def call(self, op: Operation, path: str, data: dict[str, Any] | None = None):
        request = Request(operation=op, path=path, data=data or {}, storage=self.storage)
        return await self.backend.handle(request)

    def config_data(self, **overrides: Any) -> dict[str, Any]:
        data = {
            "tenant_id": TENANT,
            "client_id": CLIENT,
            "client_secret": SECRET,
            "authority_host": self.emu.base_url,
            "graph_endpoint": self.emu.base_url,
            "ca_cert": self.emu.ca_path.read_text(),
        }
        data.update(overrides)
        return data

    async def configure(self, **overrides: Any) -> Response | None:
        return await self.call(Operation.UPDATE, "config", self.config_data(**overrides))

    async def role(self, name: str, **fields: Any) -> Response | None:
        return await self.call(Operation.UPDATE, f"roles/{name}", fields)

    async def creds(self, name: str) -> tuple[Response, dict[str, Any]]:
        response = await self.call(Operation.READ, f"creds/{name}")
        assert response is not None and response.secret is not None and response.issue
        return response, (await response.issue()).data

    def secret_request(self, response: Response) -> SecretRequest:
        assert response.secret is not None
        return SecretRequest(storage=self.storage, internal=dict(response.secret.internal))

    async def revoke(self, response: Response) -> None:
        await self.backend.secrets["entra_password"].revoke(self.secret_request(response))

    async def renew(self, response: Response):
        return await self.backend.secrets["entra_password"].renew(self.secret_request(response))

    async def signs_in(self, upn: str, password: str) -> bool:
        return await check_password(
            self.emu.base_url, TENANT, CLIENT, upn, password, self.emu.ca_path
        )

    async def admin(self, method: str, path: str, json: Any = None) -> Any:
        context = ssl.create_default_context(cafile=str(self.emu.ca_path))
        async with httpx.AsyncClient(verify=context, trust_env=False) as client:
            response = await client.request(method, f"{self.emu.base_url}{path}", json=json)
        assert response.is_success, response.text
        return response.json() if response.content else None

    async def fault(self, **spec: Any) -> None:
        await self.admin("POST", "/_emulator/faults", spec)

    async def password_changes(self, upn: str) -> int:
        users = await self.admin("GET", "/_emulator/users")
        if isinstance(users, dict):
            users = users.get("users", users)
        items = users.values() if isinstance(users, dict) else users
        for user in items:
            if user.get("userPrincipalName", user.get("user_principal_name")) == upn:
                return int(user["password_changes"])
        raise AssertionError(f"{upn} not in the emulator")


@pytest.fixture
async def emu(tmp_path):
    settings = EmulatorSettings(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SECRET,
        users=[ALICE, BOB, CAROL],
        roles=["User.ReadWrite.All"],
    )
    async with EmulatorServer(settings, cert_dir=tmp_path) as server:
        yield server


async def start_engine(emu: EmulatorServer, options: dict[str, str] | None = None) -> Engine:
    """The Entra engine mounted at entra/ on memory storage, against `emu`; close its backend.

    `options` are the mount's (BackendConfig.config), such as the issue limit."""
    storage = MemoryStorage()
    backend = await factory(
        BackendConfig(
            storage=storage,
            logger=logging.getLogger("tests.entra"),
            default_lease_ttl=timedelta(hours=1),
            max_lease_ttl=timedelta(hours=24),
            mount_point="entra/",
            config=options or {},
        )
    )
    backend.graph_deadline = 5.0
    return Engine(backend, storage, emu)


@pytest.fixture
async def engine(emu):
    started = await start_engine(emu)
    yield started
    await started.backend.close()


@pytest.fixture
async def ready(engine):
    """A configured engine with a role per user."""
    assert await engine.configure() is None
    await engine.role("alice", user_principal_name=ALICE, ttl="30m", max_ttl="2h")
    await engine.role("bob", user_principal_name=BOB)
    return engine


# -- config ------------------------------------------------------------------------


async def test_config_write_refuses_a_bad_secret_with_a_sentence(engine):
    wrong = "definitely-not-the-secret-42"
    with pytest.raises(InvalidRequestError) as caught:
        await engine.configure(client_secret=wrong)
    message = caught.value.message
    assert "client secret" in message and f'"{CLIENT}"' in message
    assert "client_secret" in message
    assert wrong not in message and SECRET not in message
    with pytest.raises(NotFoundError):
        await engine.call(Operation.READ, "config")


async def test_config_read_never_returns_the_secret(engine):
    written = await engine.configure(subscription_id="ignored-like-vault")
    assert written is not None and written.data is None
    assert written.warnings == ["Endpoint ignored these unrecognized parameters: [subscription_id]"]
    response = await engine.call(Operation.READ, "config")
    assert "client_secret" not in response.data
    assert SECRET not in repr(response.data)
    assert response.data["tenant_id"] == TENANT and response.data["client_id"] == CLIENT
    assert response.data["environment"] == "AzurePublicCloud"
    assert response.data["authority_host"] == engine.emu.base_url
    assert response.data["graph_endpoint"] == engine.emu.base_url


async def test_config_write_merges_over_the_stored_config(engine):
    await engine.configure(environment="PUBLIC")
    assert await engine.call(Operation.UPDATE, "config", {"client_secret": SECRET}) is None
    data = (await engine.call(Operation.READ, "config")).data
    assert data == {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "environment": "AzurePublicCloud",
        "authority_host": engine.emu.base_url,
        "graph_endpoint": engine.emu.base_url,
        "ca_cert": engine.emu.ca_path.read_text().strip(),
        "root_password_ttl": 182 * 24 * 3600,
        "max_graph_calls": 32,
    }
    # A refused update leaves the stored config, and the engine, as they were.
    with pytest.raises(InvalidRequestError):
        await engine.call(Operation.UPDATE, "config", {"client_secret": "wrong-one"})
    assert await engine.role("alice", user_principal_name=ALICE) is None


async def test_config_names_every_missing_or_bad_field_at_once(engine):
    with pytest.raises(InvalidRequestError) as caught:
        await engine.call(
            Operation.UPDATE,
            "config",
            {"environment": "AzureMoonCloud", "graph_endpoint": "http://graph.test"},
        )
    errors = caught.value.errors
    assert "tenant_id is required" in errors
    assert "client_id is required" in errors
    assert "client_secret or client_certificate is required" in errors
    assert any("AzureMoonCloud" in e and "AzureUSGovernmentCloud" in e for e in errors)
    assert any(e.startswith("graph_endpoint must be an https URL") for e in errors)


async def test_config_bad_ca_cert_is_refused(engine):
    with pytest.raises(InvalidRequestError) as caught:
        await engine.configure(ca_cert="not a certificate")
    assert caught.value.errors == ["ca_cert must be PEM text of one or more CA certificates"]


async def test_config_without_the_emulator_ca_is_an_untrusted_tls_sentence(engine):
    with pytest.raises(InvalidRequestError) as caught:
        await engine.configure(ca_cert="")
    assert "not trusted" in caught.value.message and "ca_cert" in caught.value.message


async def test_max_graph_calls_defaults_to_32_and_is_bounded(engine):
    assert await engine.configure() is None
    read = await engine.call(Operation.READ, "config")
    assert read is not None and read.data["max_graph_calls"] == 32
    for wrong in (-1, 1001):
        with pytest.raises(InvalidRequestError) as caught:
            await engine.configure(max_graph_calls=wrong)
        assert caught.value.errors == [
            "max_graph_calls must be between 1 and 1000 (0 or unset means 32)"
        ]
    assert await engine.configure(max_graph_calls=64) is None
    assert (await _graph(engine)).max_concurrent == 64
    assert await engine.configure(max_graph_calls=0) is None  # back to the default
    read = await engine.call(Operation.READ, "config")
    assert read is not None and read.data["max_graph_calls"] == 32


async def test_the_held_token_is_renewed_when_msal_would_renew_it(tmp_path):
    # Tokens valid 302 s: msal renews with 5 minutes left, so after about 2 s.
    settings = EmulatorSettings(
        tenant_id=TENANT,
        client_id=CLIENT,
        client_secret=SECRET,
        users=[ALICE],
        token_lifetime=302,
    )
    token = "POST /{tenant}/oauth2/v2.0/token"
    async with EmulatorServer(settings, cert_dir=tmp_path) as emu:
        engine = await start_engine(emu)
        try:
            assert await engine.configure() is None
            first = (await engine.admin("GET", "/_emulator/calls"))[token]
            await engine.role("alice", user_principal_name=ALICE)
            assert (await engine.admin("GET", "/_emulator/calls"))[token] == first

            async def renewed() -> bool:
                await engine.role("alice", user_principal_name=ALICE)
                return (await engine.admin("GET", "/_emulator/calls"))[token] > first

            assert await wait_until(renewed, timeout=10, interval=0.2) >= 1.0
        finally:
            await engine.backend.close()


async def test_config_warns_about_missing_permissions(engine):
    await engine.admin("PUT", "/_emulator/permissions", {"roles": []})
    response = await engine.configure()
    assert response is not None and len(response.warnings) == 2
    assert "User-PasswordProfile.ReadWrite.All" in response.warnings[0]
    assert "User.Read.All" in response.warnings[1]

    await engine.admin("PUT", "/_emulator/permissions", {"roles": ["User.Read.All"]})
    response = await engine.configure()
    assert response is not None and len(response.warnings) == 1
    assert "reset passwords" in response.warnings[0]

    await engine.admin(
        "PUT",
        "/_emulator/permissions",
        {"roles": ["User-PasswordProfile.ReadWrite.All", "User.Read.All"]},
    )
    assert await engine.configure() is None


async def test_config_delete_drops_the_connection(ready):
    assert await ready.call(Operation.DELETE, "config") is None
    with pytest.raises(InvalidRequestError) as caught:
        await ready.call(Operation.READ, "creds/alice")
    assert "write entra/config first" in caught.value.message


async def test_a_config_write_is_seen_by_the_next_creds_read(ready):
    """The parsed config is cached between requests; a write drops it."""
    await ready.creds("alice")
    assert await ready.configure(max_graph_calls=3) is None
    _, data = await ready.creds("alice")
    assert await ready.signs_in(ALICE, data["password"])
    # The issue step builds its Graph client from the config the creds read saw: a stale
    # cached config would have replaced the clients the write installed.
    assert ready.backend._clients.config.max_graph_calls == 3


# -- roles -------------------------------------------------------------------------


async def test_role_write_resolves_the_user_both_ways(ready):
    alice = (await ready.call(Operation.READ, "roles/alice")).data
    assert alice["user_principal_name"] == ALICE
    assert alice["object_id"] and alice["object_id"] != ALICE
    assert (alice["ttl"], alice["max_ttl"]) == (1800, 7200)
    assert (alice["password_length"], alice["mode"]) == (32, "rotate")

    await ready.role("by-id", object_id=alice["object_id"], mode="exclusive")
    by_id = (await ready.call(Operation.READ, "roles/by-id")).data
    assert by_id["user_principal_name"] == ALICE and by_id["mode"] == "exclusive"

    # With neither given, the role name is the user principal name.
    await ready.role(CAROL)
    carol = (await ready.call(Operation.READ, f"roles/{CAROL}")).data
    assert carol["user_principal_name"] == CAROL and carol["ttl"] == 0


async def test_role_write_merges_over_the_stored_role(ready):
    before = (await ready.call(Operation.READ, "roles/alice")).data
    await ready.role("alice", password_length=20)
    after = (await ready.call(Operation.READ, "roles/alice")).data
    assert after == {**before, "password_length": 20}


async def test_role_for_an_unknown_user_is_refused(ready):
    with pytest.raises(InvalidRequestError) as caught:
        await ready.role("ghost", user_principal_name="ghost@example.test")
    assert caught.value.message == (
        f'Entra user "ghost@example.test" was not found in tenant {TENANT}'
    )
    with pytest.raises(NotFoundError):
        await ready.call(Operation.READ, "roles/ghost")


async def test_role_ttl_above_max_ttl_is_refused_before_graph(ready):
    with pytest.raises(InvalidRequestError) as caught:
        await ready.role("alice", ttl="3h", max_ttl="1h")
    assert caught.value.errors == ["ttl cannot be greater than max_ttl"]
    with pytest.raises(InvalidRequestError) as caught:
        await ready.role("alice", password_length=8)
    assert caught.value.errors == ["password_length must be between 16 and 256"]


async def test_role_needs_a_config_first(engine):
    with pytest.raises(InvalidRequestError) as caught:
        await engine.role("alice", user_principal_name=ALICE)
    assert "write entra/config first" in caught.value.message


async def test_role_list_and_delete(ready):
    assert (await ready.call(Operation.LIST, "roles/")).data == {"keys": ["alice", "bob"]}
    assert await ready.call(Operation.DELETE, "roles/alice") is None
    assert await ready.call(Operation.DELETE, "roles/alice") is None  # gone already: fine
    assert (await ready.call(Operation.LIST, "roles/")).data == {"keys": ["bob"]}
    await ready.call(Operation.DELETE, "roles/bob")
    with pytest.raises(NotFoundError) as caught:
        await ready.call(Operation.LIST, "roles/")
    assert caught.value.errors == []


# -- creds, revoke, renew ------------------------------------------------------------


async def test_creds_issue_sets_a_password_that_signs_in_and_revoke_kills_it(ready):
    alice = (await ready.call(Operation.READ, "roles/alice")).data
    changes = await ready.password_changes(ALICE)
    response = await ready.call(Operation.READ, "creds/alice")
    spec = response.secret
    assert spec.type == "entra_password"
    assert spec.holder_key == f"user/{alice['object_id']}"
    assert (spec.ttl, spec.max_ttl) == (timedelta(minutes=30), timedelta(hours=2))
    assert spec.internal == {
        "role": "alice",
        "object_id": alice["object_id"],
        "user_principal_name": ALICE,
    }
    # Nothing happens in Entra until the mount, having saved the lease, calls issue().
    assert await ready.password_changes(ALICE) == changes

    data = (await response.issue()).data
    assert set(data) == {"user_principal_name", "object_id", "password"}
    assert data["user_principal_name"] == ALICE and data["object_id"] == alice["object_id"]
    assert len(data["password"]) == 32
    assert await ready.signs_in(ALICE, data["password"])

    await ready.revoke(response)
    assert not await ready.signs_in(ALICE, data["password"])
    assert await ready.password_changes(ALICE) == changes + 2


async def test_each_read_rotates_the_password(ready):
    _, first = await ready.creds("bob")
    _, second = await ready.creds("bob")
    assert first["password"] != second["password"]
    assert not await ready.signs_in(BOB, first["password"])
    assert await ready.signs_in(BOB, second["password"])


async def test_exclusive_role_and_default_ttls_in_the_spec(ready):
    await ready.role("carol", user_principal_name=CAROL, mode="exclusive", max_ttl="10m")
    response = await ready.call(Operation.READ, "creds/carol")
    # The check-out this lease will hold is named in its pending form already.
    checkout = response.secret.internal["checkout"]
    assert checkout["holder"] == response.secret.holder_key and len(checkout["id"]) == 16
    # ttl 0 is the mount default (1h), capped by the role's max_ttl.
    assert (response.secret.ttl, response.secret.max_ttl) == (
        timedelta(minutes=10),
        timedelta(minutes=10),
    )


async def test_unknown_role_is_vaults_sentence(ready):
    with pytest.raises(InvalidRequestError) as caught:
        await ready.call(Operation.READ, "creds/nope")
    assert caught.value.message == "unknown role: nope"


async def test_renew_reads_the_role_and_never_calls_graph(ready):
    response, _ = await ready.creds("alice")
    await ready.fault(match=".*", status=500)
    ttl = await ready.renew(response)
    assert (ttl.ttl, ttl.max_ttl) == (timedelta(minutes=30), timedelta(hours=2))
    await ready.call(Operation.DELETE, "roles/alice")
    assert await ready.renew(response) is None


async def test_graph_throttling_is_waited_out(ready):
    await ready.fault(match="PATCH /v1.0/users/.*", status=429, retry_after=1, count=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, data = await ready.creds("alice")
    assert loop.time() - started >= 1.0
    assert await ready.signs_in(ALICE, data["password"])


async def test_graph_failing_throughout_is_an_upstream_error_that_may_have_applied(ready):
    ready.backend.graph_deadline = 1.5
    await ready.fault(match="PATCH /v1.0/users/.*", status=500)
    response = await ready.call(Operation.READ, "creds/alice")
    with pytest.raises(UpstreamError) as caught:
        await response.issue()
    error = caught.value
    assert error.may_have_applied is True and error.retryable is True
    assert "Microsoft Graph failed" in error.message and ALICE in error.message


async def test_graph_timeout_may_have_applied(ready):
    ready.backend.graph_deadline = 1.5
    await ready.fault(match="PATCH /v1.0/users/.*", timeout=True, hold_seconds=5)
    response = await ready.call(Operation.READ, "creds/alice")
    with pytest.raises(UpstreamError) as caught:
        await response.issue()
    assert caught.value.may_have_applied is True


async def test_a_password_refused_as_weak_is_drawn_again_once(ready):
    weak = {"match": "PATCH /v1.0/users/.*", "status": 400, "code": "Request_BadRequest"}
    await ready.fault(**weak, count=1)
    _, data = await ready.creds("alice")
    assert await ready.signs_in(ALICE, data["password"])

    await ready.fault(**weak, count=2)
    response = await ready.call(Operation.READ, "creds/alice")
    with pytest.raises(UpstreamError) as caught:
        await response.issue()
    assert caught.value.may_have_applied is False
    assert "password policy" in caught.value.message
    assert await ready.signs_in(ALICE, data["password"])  # nothing changed


async def test_a_rejected_token_is_refreshed_once(ready):
    before = await ready.admin("GET", "/_emulator/calls")
    await ready.fault(match="PATCH /v1.0/users/.*", status=401, count=1)
    _, data = await ready.creds("alice")
    after = await ready.admin("GET", "/_emulator/calls")
    token = "POST /{tenant}/oauth2/v2.0/token"
    assert after[token] == before[token] + 1
    assert await ready.signs_in(ALICE, data["password"])


async def test_token_endpoint_failure_on_issue_changed_nothing(ready):
    fresh = await _fresh_backend(ready.storage)  # no cached token
    try:
        await ready.fault(match="POST /.*/token", status=503)
        response = await fresh.handle(
            Request(operation=Operation.READ, path="creds/alice", data={}, storage=ready.storage)
        )
        with pytest.raises(UpstreamError) as caught:
            await response.issue()
    finally:
        await fresh.close()
    assert caught.value.may_have_applied is False and caught.value.retryable is True
    assert "token endpoint" in caught.value.message


async def test_msal_never_blocks_the_event_loop(engine):
    # Discovery and the token call each take 300 ms; the loop must keep ticking.
    await engine.fault(match="openid-configuration|/token$", latency_ms=300)
    gaps: list[float] = []
    loop = asyncio.get_running_loop()

    async def ticker() -> None:
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - last)
            last = loop.time()

    task = asyncio.create_task(ticker())
    try:
        assert await engine.configure() is None
    finally:
        task.cancel()
    assert len(gaps) > 30 and max(gaps) < 0.2


async def test_permission_removed_gives_a_sentence_naming_it(ready):
    await ready.admin("PUT", "/_emulator/permissions", {"roles": ["User.Read.All"]})
    # A new token carries the reduced permissions (config write also warns about them).
    response = await ready.configure()
    assert response is not None and response.warnings
    creds = await ready.call(Operation.READ, "creds/alice")
    with pytest.raises(UpstreamError) as caught:
        await creds.issue()
    error = caught.value
    assert error.may_have_applied is False
    assert "User-PasswordProfile.ReadWrite.All" in error.message
    assert "User Administrator" in error.message


async def test_revoke_for_a_deleted_user_succeeds_and_issue_refuses(ready):
    response, _ = await ready.creds("bob")
    await ready.admin("DELETE", f"/_emulator/users/{BOB}")
    await ready.revoke(response)  # nothing left to revoke: not an error
    again = await ready.call(Operation.READ, "creds/bob")
    with pytest.raises(UpstreamError) as caught:
        await again.issue()
    assert caught.value.may_have_applied is False
    assert BOB in caught.value.message and "not found" in caught.value.message


async def test_revoke_without_config_is_retryable_later(ready):
    response, _ = await ready.creds("alice")
    await ready.call(Operation.DELETE, "config")
    with pytest.raises(UnavailableError):
        await ready.revoke(response)


async def _fresh_backend(storage):
    return await factory(
        BackendConfig(
            storage=storage,
            logger=logging.getLogger("tests.entra"),
            default_lease_ttl=timedelta(hours=1),
            max_lease_ttl=timedelta(hours=24),
        )
    )


async def test_concurrent_requests_share_one_token(engine):
    await engine.configure()
    fresh = await _fresh_backend(engine.storage)
    try:
        before = await engine.admin("GET", "/_emulator/calls")
        await asyncio.gather(
            *(
                fresh.handle(
                    Request(
                        operation=Operation.UPDATE,
                        path=f"roles/r{i}",
                        data={"user_principal_name": ALICE},
                        storage=engine.storage,
                    )
                )
                for i in range(8)
            )
        )
        after = await engine.admin("GET", "/_emulator/calls")
    finally:
        await fresh.close()
    new = {label: n - before.get(label, 0) for label, n in after.items()}
    # One discovery and one token call for eight concurrent first requests.
    assert new["POST /{tenant}/oauth2/v2.0/token"] == 1, new
    assert new["GET /{tenant}/v2.0/.well-known/openid-configuration"] == 1, new
    assert new["GET /v1.0/users/{id}"] == 8


async def test_no_secret_or_password_reaches_the_log(engine, caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InvalidRequestError):
        await engine.configure(client_secret="a-wrong-secret-to-hide")
    await engine.configure()
    await engine.role("alice", user_principal_name=ALICE)
    await engine.fault(match="PATCH /v1.0/users/.*", status=429, retry_after=1, count=1)
    response, data = await engine.creds("alice")
    await engine.revoke(response)
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith(("emulator", "aiohttp"))
    )
    assert "graph retry" in text  # the log did see the flow
    for secret in (SECRET, "a-wrong-secret-to-hide", data["password"]):
        assert secret not in text
    assert "Bearer " not in text and "eyJ" not in text  # no access token


# -- throttling discipline -----------------------------------------------------------


async def _graph(engine):
    config = await engine.backend.require_config(engine.storage)
    return await engine.backend.graph(config)


async def test_graph_calls_in_flight_are_bounded_and_the_backlog_is_refused(ready):
    assert await ready.configure(max_graph_calls=2) is None
    read = await ready.call(Operation.READ, "config")
    assert read is not None and read.data["max_graph_calls"] == 2
    graph = await _graph(ready)
    assert graph.max_concurrent == 2
    users = await ready.admin("GET", "/_emulator/users")
    alice = next(u["id"] for u in users if u["userPrincipalName"] == ALICE)
    graph.queue_timeout = 0.3  # 10 s in service; short for the test
    await ready.fault(match="^PATCH ", latency_ms=1000)
    results = await asyncio.gather(
        *(graph.set_password(alice, f"Aa1!{i}-long-enough-pw", subject=ALICE) for i in range(4)),
        return_exceptions=True,
    )
    busy = [r for r in results if isinstance(r, GraphBusyError)]
    assert sum(r is None for r in results) == 2 and len(busy) == 2
    assert busy[0].status == 503 and not busy[0].may_have_applied
    assert "2 Microsoft Graph calls were already in flight" in busy[0].message
    calls = await ready.admin("GET", "/_emulator/calls")
    assert calls["PATCH /v1.0/users/{id}"] == 2  # the refused ones never reached Graph


async def test_retry_after_holds_every_caller(ready):
    graph = await _graph(ready)
    users = await ready.admin("GET", "/_emulator/users")
    alice = next(u["id"] for u in users if u["userPrincipalName"] == ALICE)
    bob = next(u["id"] for u in users if u["userPrincipalName"] == BOB)
    await ready.admin("DELETE", "/_emulator/calls")
    await ready.fault(match="^PATCH ", status=429, retry_after=2, count=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    first = asyncio.create_task(graph.set_password(alice, "Aa1!first-long-pw", subject=ALICE))
    await wait_until(lambda: graph._not_before > 0, timeout=5)
    # A second caller arriving during the Retry-After waits it out too.
    await graph.set_password(bob, "Aa1!second-long-pw", subject=BOB)
    assert loop.time() - started >= 1.9
    await first
    calls = await ready.admin("GET", "/_emulator/calls")
    assert calls["PATCH /v1.0/users/{id}"] == 3  # 429, then one retry each
