"""The users picker: every user of the tenant (past the first hundred), searchable, paged."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Tenant
from tests.ui.conftest import Broker, notices, sign_in

pytestmark = pytest.mark.usefixtures("browser")

EXTRA = [f"svc-{n:03d}@example.test" for n in range(1, 121)]


@pytest.fixture
def many_users(tenant: Tenant) -> Iterator[list[str]]:
    context = ssl.create_default_context(cafile=str(tenant.ca_path))
    admin = f"{tenant.base_url}/_emulator/users"
    with httpx.Client(verify=context, trust_env=False, timeout=30) as client:
        for upn in EXTRA:
            made = client.post(admin, json={"userPrincipalName": upn, "displayName": upn[:7]})
            assert made.status_code == 201, made.text
        yield EXTRA
        for upn in EXTRA:
            assert client.delete(f"{admin}/{upn}").status_code == 204


def test_the_picker_pages_through_every_user_and_searches_them_all(
    page: Any, configured: Broker, many_users: list[str]
) -> None:
    sign_in(page, configured)
    page.goto(f"{configured.url}/ui/mounts/entra/new-roles")
    legend = page.locator("legend").first.inner_text()
    assert legend == "Users (123 found, page 1 of 5)", legend
    assert page.locator("#user-list li").count() == 25
    for _ in range(4):
        page.get_by_role("link", name="Next page").click()
    assert "page 5 of 5" in page.locator("legend").first.inner_text()
    assert page.get_by_label(re.compile("svc-120@")).count() == 1  # beyond the first 100
    assert page.get_by_role("link", name="Next page").count() == 0
    # The search runs over every user, not one page.
    page.get_by_label("Search users").fill("svc-11")
    page.get_by_role("button", name="Search").click()
    labels = page.locator("#user-list label").all_inner_texts()
    assert len(labels) == 10 and all("svc-11" in text for text in labels), labels
    page.get_by_label(re.compile("svc-115@")).check()
    page.get_by_role("button", name="Create roles").click()
    assert "Role svc-115 created for svc-115@example.test" in notices(page)
    configured.ok("DELETE", "entra/roles/svc-115")
