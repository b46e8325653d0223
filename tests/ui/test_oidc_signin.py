"""**Sign in with Entra ID** on the dashboard: through the emulator's authorization
endpoint in a real browser, to a session holding the oidc method's token."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import ALICE, CLIENT, SECRET, TENANT, Tenant
from tests.ui.conftest import Broker

pytestmark = pytest.mark.usefixtures("browser")


@pytest.fixture
def oidc(broker: Broker, tenant: Tenant) -> Iterator[Broker]:
    """An oidc method whose default role allows the dashboard's callback; disabled after,
    so the other pages' tests see the sign-in page as before."""
    broker.ok("POST", "sys/auth/oidc", json={"type": "oidc"})
    try:
        broker.ok(
            "POST",
            "auth/oidc/config",
            json={
                "oidc_discovery_url": f"{tenant.base_url}/{TENANT}/v2.0",
                "oidc_discovery_ca_pem": tenant.ca_path.read_text(),
                "oidc_client_id": CLIENT,
                "oidc_client_secret": SECRET,
                "default_role": "dashboard",
            },
        )
        broker.ok(
            "POST",
            "auth/oidc/role/dashboard",
            json={
                "user_claim": "preferred_username",
                "allowed_redirect_uris": [f"{broker.url}/ui/oidc/callback"],
                "token_policies": ["dashboard-readers"],
            },
        )
        tenant.admin("PUT", "signed-in", {"user": ALICE})
        yield broker
    finally:
        tenant.admin("PUT", "signed-in", {"user": None})
        broker.ok("DELETE", "sys/auth/oidc")


def test_sign_in_with_entra_id(page: Any, oidc: Broker) -> None:
    page.goto(f"{oidc.url}/ui/signin")
    page.get_by_role("link", name="Sign in with Entra ID").click()
    page.get_by_role("button", name="Sign out").wait_for()
    assert page.url == f"{oidc.url}/ui/"
    # The session holds a token of the oidc method, with the role's policies.
    accessors = oidc.ok("LIST", "auth/token/accessors")["data"]["keys"]
    policies = [
        oidc.ok("POST", "auth/token/lookup-accessor", json={"accessor": a})["data"]["policies"]
        for a in accessors
    ]
    assert ["dashboard-readers", "default"] in policies


def test_a_role_without_the_dashboard_address_says_what_to_add(page: Any, oidc: Broker) -> None:
    oidc.ok(
        "POST",
        "auth/oidc/role/dashboard",
        json={"allowed_redirect_uris": ["http://localhost:8250/oidc/callback"]},
    )
    page.goto(f"{oidc.url}/ui/signin")
    page.get_by_role("link", name="Sign in with Entra ID").click()
    error = page.locator("#signin-error")
    assert f"add {oidc.url}/ui/oidc/callback" in error.inner_text()


def test_no_button_without_an_oidc_method(page: Any, broker: Broker) -> None:
    page.goto(f"{broker.url}/ui/signin")
    assert page.get_by_role("link", name="Sign in with Entra ID").count() == 0
