"""A misbehaving agent cannot become a password-reset storm, and recovers after the fault.

Vault Agent answers a failed renewal by reading a new credential at once, and loops
(captured against OpenBao: 111 new credentials in 11 s on a renew that returned 403).
A proxy between the agent and the broker answers renewals with 403 for a while; the
per-role issue limit must bound the resets Entra sees, and the agent must render a
working password again once renewals pass.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, ClientTimeout, web

from tests.broker_thread import ROOT_TOKEN, BrokerThread
from tests.e2e.conftest import Setup, Tenant
from tests.e2e.test_agent import UPN, _agent_config, _run_agent
from tests.waiting import wait_until_sync

LIMIT, WINDOW = 5, 5


class FaultProxy:
    """Forwards to the broker; while `fail_renew` is set, lease renewals get a 403."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.fail_renew = threading.Event()
        self.creds_reads = 0
        self.renewals_passed = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request, session: ClientSession) -> web.Response:
        if request.path.startswith("/v1/entra/creds/"):
            self.creds_reads += 1
        if (
            self.fail_renew.is_set()
            and request.method == "PUT"
            and request.path == "/v1/sys/leases/renew"
        ):
            return web.json_response({"errors": ["permission denied"]}, status=403)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("x-vault-token", "content-type", "x-vault-request")
        }
        async with session.request(
            request.method,
            self.upstream + request.path_qs,
            headers=headers,
            data=await request.read(),
        ) as answer:
            if request.path == "/v1/sys/leases/renew" and answer.status == 200:
                self.renewals_passed += 1
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                headers={
                    k: v
                    for k, v in answer.headers.items()
                    if k.lower() in ("content-type", "retry-after")
                },
            )

    async def _serve(self, ready: threading.Event) -> None:
        async with ClientSession(timeout=ClientTimeout(total=30)) as session:

            async def forward(request: web.Request) -> web.Response:
                return await self._handle(request, session)

            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", forward)
            runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self._stop = asyncio.Event()
            ready.set()
            await self._stop.wait()
            await runner.cleanup()

    def start(self) -> FaultProxy:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        loop = self._loop
        self._thread = threading.Thread(
            target=lambda: loop.run_until_complete(self._serve(ready)), daemon=True
        )
        self._thread.start()
        assert ready.wait(10), "proxy did not start"
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        if self._loop is not None:
            self._loop.close()


@pytest.fixture
def limited_broker(tmp_path: Path) -> Iterator[BrokerThread]:
    from mount.core import CoreSettings

    broker = BrokerThread(
        tmp_path / "broker",
        settings=CoreSettings().with_leases(role_issue_limit=LIMIT, role_issue_interval=WINDOW),
    ).start()
    yield broker
    broker.stop()


@pytest.fixture
def proxy(limited_broker: BrokerThread) -> Iterator[FaultProxy]:
    running = FaultProxy(limited_broker.url).start()
    yield running
    running.stop()


def test_reset_storm_is_bounded_and_the_agent_recovers(
    limited_broker: BrokerThread,
    proxy: FaultProxy,
    tenant: Tenant,
    tmp_path: Path,
    running_agent,
) -> None:
    from tests.e2e.conftest import Api

    setup = Setup(Api(limited_broker.url), tenant)
    setup.config()
    setup.role("alice", ttl="12s", max_ttl="5m")
    workdir = tmp_path / "agent"
    workdir.mkdir()
    (workdir / "token").write_text(ROOT_TOKEN)
    rendered = workdir / "password.txt"
    running_agent.append(_run_agent(_agent_config(proxy.url, workdir), workdir))
    wait_until_sync(lambda: rendered.exists() and rendered.read_text() != "", timeout=20)
    assert tenant.signs_in(UPN, rendered.read_text())

    # Let the first read's window pass, so the fault starts with the whole budget.
    time.sleep(WINDOW + 0.5)
    before_resets, before_reads = tenant.password_changes(UPN), proxy.creds_reads
    proxy.fail_renew.set()
    fault_started = time.monotonic()
    wait_until_sync(lambda: proxy.creds_reads - before_reads > LIMIT, timeout=20)
    time.sleep(max(0.0, fault_started + WINDOW - 1 - time.monotonic()))
    resets = tenant.password_changes(UPN) - before_resets
    reads = proxy.creds_reads - before_reads
    renewals_during_fault = proxy.renewals_passed
    proxy.fail_renew.clear()
    # The agent looped (more reads than the limit), yet Entra saw at most the limit.
    assert reads > LIMIT
    assert 1 <= resets <= LIMIT

    # Recovered: the agent renews its lease again and the rendered password signs in.
    wait_until_sync(lambda: proxy.renewals_passed > renewals_during_fault, timeout=90, interval=0.2)
    assert tenant.signs_in(UPN, rendered.read_text())
