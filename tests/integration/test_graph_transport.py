"""The Graph client's transport (plugin/graph/connections.py) against the emulator over HTTPS:
a connection per call in flight, reused, and given back whatever happens to the call."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest

from emulator import EmulatorServer, EmulatorSettings
from plugin.graph import GraphClient, GraphError
from plugin.graph.connections import ConnectionPerCallTransport
from tests.server_process import free_port

USERS = [f"user{i}@example.test" for i in range(6)]


class FixedToken:
    def __init__(self, value: str) -> None:
        self.value = value

    async def token(self) -> str:
        return self.value

    async def invalidate(self) -> None:
        return None


@pytest.fixture
async def emu(tmp_path):
    settings = EmulatorSettings(
        tenant_id="8f1c2d3e-0000-4000-8000-00000000aaaa",
        client_id="5b6c7d8e-0000-4000-8000-00000000bbbb",
        client_secret="emulated~client~secret~value-0123456789",
        users=USERS,
        roles=["User.ReadWrite.All"],
    )
    async with EmulatorServer(settings, cert_dir=tmp_path) as server:
        yield server


async def _app_token(emu: EmulatorServer, context: ssl.SSLContext) -> str:
    async with httpx.AsyncClient(verify=context, trust_env=False) as client:
        answer = await client.post(
            f"{emu.base_url}/{emu.settings.tenant_id}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": emu.settings.client_id,
                "client_secret": emu.settings.client_secret,
                "scope": "https://graph.microsoft.com/.default",
            },
        )
        assert answer.status_code == 200, answer.text
        slow = await client.post(
            f"{emu.base_url}/_emulator/faults", json={"match": "^GET ", "latency_ms": 200}
        )
        assert slow.is_success, slow.text
    return str(answer.json()["access_token"])


async def test_each_call_in_flight_has_its_connection_and_keeps_it(emu):
    context = ssl.create_default_context(cafile=str(emu.ca_path))
    token = await _app_token(emu, context)  # and every GET now takes 200 ms
    transport = ConnectionPerCallTransport(verify=context)
    client = httpx.AsyncClient(
        base_url=f"{emu.base_url}/v1.0",
        transport=transport,
        headers={"Authorization": f"Bearer {token}"},
    )

    async def local_port(upn: str) -> int:
        response = await client.get(f"/users/{upn}")
        assert response.status_code == 200, response.text
        return int(response.extensions["network_stream"].get_extra_info("client_addr")[1])

    try:
        first = await asyncio.gather(*(local_port(upn) for upn in USERS))
        again = await asyncio.gather(*(local_port(upn) for upn in USERS))
        one_by_one = [await local_port(upn) for upn in USERS]
    finally:
        await client.aclose()
    assert len(set(first)) == len(USERS)  # six in flight: six connections
    assert set(again) == set(first)  # and the same six again: no new handshakes
    assert len(set(one_by_one)) == 1  # one at a time: the last freed, every time
    assert transport.connections == 0  # closed with the client


async def test_a_failed_call_gives_its_transport_back():
    context = ssl.create_default_context()
    transport = ConnectionPerCallTransport(verify=context)
    graph = GraphClient(  # nothing listens there: every attempt fails to connect
        f"https://127.0.0.1:{free_port()}",
        FixedToken("unused"),
        verify=context,
        transport=transport,
        deadline=0.5,
        backoff=0.01,
    )
    try:
        with pytest.raises(GraphError) as caught:
            await graph.get_user("someone@example.test")
        assert caught.value.may_have_applied is False
        assert transport.connections >= 1 and transport.idle == transport.connections
    finally:
        await graph.aclose()
