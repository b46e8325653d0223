"""What a token's policies allow is what the dashboard offers: nothing more."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import ALICE, Tenant
from tests.ui.conftest import Broker, close_dialog, sign_in

pytestmark = pytest.mark.usefixtures("browser")

ALICE_ONLY = """
path "entra/creds/alice" {
  capabilities = ["read"]
}
"""


@pytest.fixture(scope="module")
def alice_reader(configured: Broker) -> str:
    """A token whose policy allows only reading alice's credentials (and the default)."""
    for name in ("alice", "bob"):
        configured.ok(
            "PUT", f"entra/roles/{name}", json={"user_principal_name": f"{name}@example.test"}
        )
    configured.ok("PUT", "sys/policies/acl/alice-reader", json={"policy": ALICE_ONLY})
    created = configured.ok("POST", "auth/token/create", json={"policies": ["alice-reader"]})
    return str(created["auth"]["client_token"])


def test_a_creds_only_token_sees_no_configure_form_and_no_other_role(
    page: Any, configured: Broker, alice_reader: str, tenant: Tenant
) -> None:
    sign_in(page, configured, alice_reader)
    page.get_by_role("link", name="entra/").click()
    main = page.locator("main")
    # No configuration, no role list, no lease tables: only a way to open a role by name.
    assert page.get_by_role("link", name="Configure the engine").count() == 0
    assert page.get_by_role("link", name="Create roles").count() == 0
    assert page.locator("#roles").count() == 0
    assert "bob" not in main.inner_text()
    assert page.get_by_role("link", name="Irrevocable leases").count() == 1  # the nav
    page.goto(f"{configured.url}/ui/mounts/entra/config")
    assert page.locator("#config-form").count() == 0
    assert "do not allow reading or writing entra/config" in main.inner_text()
    # Its one role: Generate is offered, and the role's settings read as the API's 403.
    page.goto(f"{configured.url}/ui/mounts/entra/")
    page.get_by_label("Role name").fill("alice")
    page.get_by_role("button", name="Open role").click()
    assert "permission denied" in page.get_by_role("alert").first.inner_text()
    page.get_by_role("button", name="Generate").click()
    dialog = page.get_by_role("dialog")
    password = dialog.get_by_label("Password").input_value()
    assert tenant.signs_in(ALICE, password)
    lease_id = dialog.get_by_label("Lease id").input_value()
    close_dialog(page)
    # It may not list leases, but sees the one it just got, and may renew it (the default
    # policy allows sys/leases/renew), not revoke it (nothing grants sys/leases/revoke).
    row = page.locator(f'tr[data-lease-id="{lease_id}"]')
    assert row.count() == 1
    assert row.get_by_role("button", name=re.compile("^Revoke")).count() == 0
    row.get_by_role("button", name="Renew").click()
    assert f"Lease {lease_id} renewed" in page.locator("#notices").inner_text()
    assert page.get_by_role("button", name="Revoke all").count() == 0
    assert page.get_by_role("link", name="Revoke all").count() == 0
    # Another role: nothing to do there.
    page.goto(f"{configured.url}/ui/mounts/entra/roles/bob")
    assert page.get_by_role("button", name="Generate").count() == 0
    assert "permission denied" in main.inner_text()
    # The irrevocable list needs sudo: the API's sentence, no table.
    page.goto(f"{configured.url}/ui/irrevocable")
    assert "permission denied" in main.inner_text()
    assert page.locator("#irrevocable").count() == 0
