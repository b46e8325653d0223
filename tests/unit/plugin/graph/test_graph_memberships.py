"""Reading a user's directory roles (GraphClient.list_directory_roles) over httpx.MockTransport.

The flow runs against the emulator in tests/integration/test_privileged_users.py; here what
the emulator does not produce: groups among the memberships, hostile or endless
@odata.nextLink chains, and malformed pages.
"""

from __future__ import annotations

import httpx
import pytest

from plugin.graph import MAX_PAGES, GraphDirectoryRole, GraphError
from tests.unit.plugin.graph.test_graph_errors import OBJECT_ID, _client

BASE = "https://graph.test/v1.0"
MEMBERSHIPS = f"{BASE}/users/{OBJECT_ID}/transitiveMemberOf"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


def _role(template: str | None, name: str | None) -> dict:
    return {
        "@odata.type": "#microsoft.graph.directoryRole",
        "id": f"obj-{name}",
        "roleTemplateId": template,
        "displayName": name,
    }


async def test_only_directory_roles_are_kept_across_pages():
    seen: list[httpx.Request] = []
    group = {"@odata.type": "#microsoft.graph.group", "id": "g1", "displayName": "Sales"}
    pages = {
        "first": {
            "value": [group, _role(GLOBAL_ADMIN.upper(), "Global Administrator")],
            "@odata.nextLink": f"{MEMBERSHIPS}?$top=999&$skiptoken=X%2Bnext",
        },
        "second": {
            "value": [_role(None, None), {"@odata.type": "#microsoft.graph.administrativeUnit"}]
        },
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200, json=pages["second" if "skiptoken" in str(request.url) else "first"]
        )

    client = _client(handler)
    roles = await client.list_directory_roles(OBJECT_ID, subject="alice@contoso.test")
    await client.aclose()
    assert roles == [
        GraphDirectoryRole("obj-Global Administrator", GLOBAL_ADMIN, "Global Administrator"),
        GraphDirectoryRole("obj-None", "", ""),
    ]
    assert str(seen[0].url) == f"{MEMBERSHIPS}?%24top=999"
    # The next page is asked for exactly as linked, with the token, on the same host.
    assert (
        seen[1].url.raw_path.decode()
        == f"/v1.0/users/{OBJECT_ID}/transitiveMemberOf?$top=999&$skiptoken=X%2Bnext"
    )
    assert all(r.headers["Authorization"] == "Bearer token-0" for r in seen)


@pytest.mark.parametrize(
    "link",
    [
        f"https://evil.test/v1.0/users/{OBJECT_ID}/transitiveMemberOf?$skiptoken=x",
        f"http://graph.test/v1.0/users/{OBJECT_ID}/transitiveMemberOf?$skiptoken=x",
        "https://graph.test/beta/users?$skiptoken=x",
        42,
    ],
)
async def test_a_next_link_off_the_graph_endpoint_is_never_followed(link):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"value": [], "@odata.nextLink": link})

    client = _client(handler)
    with pytest.raises(GraphError) as caught:
        await client.list_directory_roles(OBJECT_ID, subject="alice@contoso.test")
    await client.aclose()
    assert len(seen) == 1
    assert "outside https://graph.test/v1.0" in caught.value.message
    assert "alice@contoso.test" in caught.value.message


async def test_an_endless_chain_of_pages_stops():
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(
            200, json={"value": [], "@odata.nextLink": f"{MEMBERSHIPS}?$skiptoken={calls}"}
        )

    client = _client(handler)
    with pytest.raises(GraphError) as caught:
        await client.list_directory_roles(OBJECT_ID)
    await client.aclose()
    assert calls == MAX_PAGES
    assert f"more than {MAX_PAGES} pages" in caught.value.message


async def test_a_page_without_a_value_list_is_unreadable():
    client = _client(lambda request: httpx.Response(200, json={"value": "nope"}))
    with pytest.raises(GraphError) as caught:
        await client.list_directory_roles(OBJECT_ID, subject="alice@contoso.test")
    await client.aclose()
    assert caught.value.retryable and "unreadable" in caught.value.message
