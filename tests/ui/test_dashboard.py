"""The dashboard as a user drives it: sign in, configure, create roles, Generate, watch,
Renew and Revoke leases, irrevocable leases, sign out (issue 16's browser checks)."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.e2e.conftest import ALICE, BOB, CAROL, Tenant
from tests.ui.conftest import Broker, close_dialog, config_data, notices, shoot, sign_in, wait_for

pytestmark = pytest.mark.usefixtures("browser")

RESET = "PATCH /v1.0/users/.*"
# A row's Revoke button (its accessible name adds the lease id), not Force revoke.
REVOKE = re.compile(r"^Revoke lease ")


@pytest.fixture(scope="package")
def alice_and_bob_roles(configured: Broker) -> None:
    """alice's and bob's roles as the role-creating test makes them, written through the
    API, so a test that uses them does not depend on that test having run (or passed)."""
    for name, upn in (("alice", ALICE), ("bob", BOB)):
        configured.ok(
            "PUT",
            f"entra/roles/{name}",
            json={"user_principal_name": upn, "ttl": "1h", "max_ttl": "2h"},
        )


def role_page(page: Any, broker: Broker, role: str) -> None:
    page.goto(f"{broker.url}/ui/mounts/entra/roles/{role}")


def lease_rows(page: Any) -> Any:
    return page.locator("table.leases tbody tr")


def generate(page: Any, ttl: str | None = None) -> dict[str, str]:
    """Click Generate (with a preset TTL) and read the dialog, leaving it open."""
    if ttl is not None:
        page.get_by_label(ttl, exact=True).check()
    page.get_by_role("button", name="Generate").click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    shown = {
        "upn": dialog.get_by_label("User principal name").input_value(),
        "password": dialog.get_by_label("Password").input_value(),
        "lease_id": dialog.get_by_label("Lease id").input_value(),
        "text": dialog.inner_text(),
    }
    return shown


def test_a_wrong_token_is_refused_with_a_sentence(page: Any, broker: Broker) -> None:
    page.goto(f"{broker.url}/")
    assert page.url == f"{broker.url}/ui/signin"
    page.get_by_label("Token").fill("s.not-a-token-of-this-server")
    page.get_by_role("button", name="Sign in").click()
    refusal = page.get_by_role("alert")
    assert "refused this token" in refusal.inner_text()
    assert "permission denied" in refusal.inner_text()
    shoot(page, "signin")
    assert page.get_by_role("button", name="Sign out").count() == 0


def test_sign_in_lists_the_entra_mounts(page: Any, broker: Broker) -> None:
    sign_in(page, broker)
    assert page.url == f"{broker.url}/ui/"
    link = page.get_by_role("link", name="entra/")
    assert link.is_visible()
    shoot(page, "mounts")


def test_configure_against_the_emulator_and_test_connection(
    page: Any, broker: Broker, tenant: Tenant
) -> None:
    sign_in(page, broker)
    page.goto(f"{broker.url}/ui/mounts/entra/config")
    values = config_data(tenant)
    # An application without the reset permission: saving works, with the engine's warning.
    tenant.admin("PUT", "permissions", {"roles": ["User.Read.All"]})
    try:
        for name in ("tenant_id", "client_id", "authority_host", "graph_endpoint", "ca_cert"):
            page.locator(f"#{name}").fill(values[name])
        page.get_by_label("Client secret").fill(values["client_secret"])
        page.get_by_role("button", name="Save").click()
        text = notices(page)
        assert "Configuration saved" in text, text
        assert "no permission to reset passwords" in text, text
        shoot(page, "config")
        # The secret is never shown back.
        assert values["client_secret"] not in page.content()
        assert page.get_by_label("Client secret").input_value() == ""
    finally:
        tenant.admin("PUT", "permissions", {"roles": ["User.ReadWrite.All"]})
    page.get_by_role("button", name="Test connection").click()
    text = notices(page)
    assert "Connection test: the engine signed in" in text, text
    assert "No Graph permission is missing" in text, text
    assert broker.ok("GET", "entra/config")["data"]["tenant_id"] == values["tenant_id"]


def test_create_roles_for_two_users_picked_from_the_list(page: Any, configured: Broker) -> None:
    broker = configured
    sign_in(page, broker)
    page.goto(f"{broker.url}/ui/mounts/entra/")
    page.get_by_role("link", name="Create roles").click()
    # Every user of the tenant is listed; the page filter narrows them as one types.
    for upn in (ALICE, BOB, CAROL):
        assert page.get_by_label(re.compile(re.escape(upn))).count() == 1
    page.get_by_label("Filter this page").fill("bob")
    # The filter runs on the input event: wait for it rather than read the page at once.
    page.get_by_label(re.compile(re.escape(ALICE))).wait_for(state="hidden")
    page.get_by_label(re.compile(re.escape(BOB))).check()
    page.get_by_label("Filter this page").fill("")
    page.get_by_label(re.compile(re.escape(ALICE))).check()
    page.get_by_label("TTL", exact=True).fill("1h")
    page.get_by_label("Max TTL").fill("2h")
    shoot(page, "create-roles")
    page.get_by_role("button", name="Create roles").click()
    text = notices(page)
    assert "Role alice created for alice@example.test" in text, text
    assert "Role bob created for bob@example.test" in text, text
    roles = page.locator("#roles")
    assert "alice@example.test" in roles.inner_text()
    assert "bob@example.test" in roles.inner_text()
    shoot(page, "roles")
    assert broker.ok("GET", "entra/roles/alice")["data"]["max_ttl"] == 7200


def test_a_bad_role_field_shows_the_api_sentence(page: Any, configured: Broker) -> None:
    sign_in(page, configured)
    page.goto(f"{configured.url}/ui/mounts/entra/new-roles?q=carol")
    page.get_by_label(re.compile(re.escape(CAROL))).check()
    page.get_by_label("Password length").fill("3")
    page.get_by_role("button", name="Create roles").click()
    text = notices(page)
    assert "Role carol for carol@example.test was not created" in text, text
    assert "password_length" in text, text


@pytest.mark.usefixtures("alice_and_bob_roles")
def test_generate_shows_a_password_that_signs_in_once(
    page: Any, configured: Broker, tenant: Tenant
) -> None:
    sign_in(page, configured)
    role_page(page, configured, "alice")
    assert "2h" in page.locator("#generate-form").inner_text()  # the role's max TTL, shown
    # Presets above the max TTL are not offered.
    assert page.get_by_label("4h", exact=True).count() == 0
    shown = generate(page, "1h")
    assert shown["upn"] == ALICE
    assert "will not be shown again" in shown["text"]
    assert re.fullmatch(r"entra/creds/alice/[A-Za-z0-9]{24}", shown["lease_id"])
    assert tenant.signs_in(ALICE, shown["password"])
    # The focus is inside the dialog; Copy announces itself.
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    page.get_by_role("dialog").get_by_role("button", name="Copy").nth(1).click()
    page.get_by_text("Password copied.").wait_for()
    shoot(page, "generate")
    close_dialog(page)  # closed, then taken out of the page by the close handler
    assert shown["password"] not in page.content()  # gone from the page once closed
    # The lease is in the table, with a live countdown.
    row = page.locator(f'tr[data-lease-id="{shown["lease_id"]}"]')
    remaining = row.locator(".remaining")
    first = remaining.inner_text()
    assert re.search(r"\((\d+h )?\d+m \d+s left\)", first), first
    wait_for(lambda: remaining.inner_text() != first, timeout=5)
    shoot(page, "role")
    # A custom TTL above the max is refused before the API is asked.
    page.get_by_label("Custom TTL").fill("3h")
    page.get_by_role("button", name="Generate").click()
    assert "above the role's max TTL of 2h" in page.locator("#generate-error").inner_text()


def expiry_of(page: Any, lease_id: str) -> int:
    return int(
        page.locator(f'tr[data-lease-id="{lease_id}"] time.countdown').get_attribute("data-expires")
    )


@pytest.mark.usefixtures("alice_and_bob_roles")
def test_renew_extends_the_lease_and_shows_the_cap(page: Any, configured: Broker) -> None:
    sign_in(page, configured)
    role_page(page, configured, "alice")
    shown = generate(page, "15m")
    close_dialog(page)
    lease_id = shown["lease_id"]
    before = expiry_of(page, lease_id)
    row = page.locator(f'tr[data-lease-id="{lease_id}"]')
    row.get_by_label("Extend by").select_option("1h")
    row.get_by_role("button", name="Renew").click()
    assert f"Lease {lease_id} renewed" in notices(page)
    extended = expiry_of(page, lease_id)
    assert extended >= before + 40 * 60
    # Past the role's max TTL (2h from issue), the API caps it and says so.
    row = page.locator(f'tr[data-lease-id="{lease_id}"]')
    row.get_by_label("Extend by").select_option("4h")
    row.get_by_role("button", name="Renew").click()
    text = notices(page)
    assert "exceeded the effective max_ttl" in text, text
    issued = configured.ok("PUT", "sys/leases/lookup", json={"lease_id": lease_id})["data"]
    assert expiry_of(page, lease_id) <= time.time() + 2 * 3600 + 5
    assert issued["ttl"] <= 2 * 3600


@pytest.mark.usefixtures("alice_and_bob_roles")
def test_revoke_kills_the_password_and_removes_the_row(
    page: Any, configured: Broker, tenant: Tenant
) -> None:
    sign_in(page, configured)
    role_page(page, configured, "bob")
    shown = generate(page)
    close_dialog(page)
    assert tenant.signs_in(BOB, shown["password"])
    row = page.locator(f'tr[data-lease-id="{shown["lease_id"]}"]')
    row.get_by_role("button", name=REVOKE).click()
    assert f"Lease {shown['lease_id']} revoked" in notices(page)
    assert page.locator(f'tr[data-lease-id="{shown["lease_id"]}"]').count() == 0
    tenant.wait_signs_in_fails(BOB, shown["password"])


@pytest.mark.usefixtures("alice_and_bob_roles")
def test_revoke_all_asks_first_then_ends_every_lease(
    page: Any, configured: Broker, tenant: Tenant
) -> None:
    sign_in(page, configured)
    role_page(page, configured, "bob")
    shown = generate(page)
    close_dialog(page)
    role_page(page, configured, "bob")
    page.get_by_role("link", name="Revoke all").click()
    assert "cannot be undone" in page.locator("main").inner_text()
    shoot(page, "revoke-all")
    page.get_by_role("button", name="Revoke all").click()
    assert "Every lease of role bob is revoked" in notices(page)
    assert lease_rows(page).count() == 0
    tenant.wait_signs_in_fails(BOB, shown["password"])


@pytest.mark.usefixtures("alice_and_bob_roles")
def test_the_mount_lease_table_lists_every_role(page: Any, configured: Broker) -> None:
    sign_in(page, configured)
    role_page(page, configured, "alice")
    generate(page)
    close_dialog(page)
    page.goto(f"{configured.url}/ui/mounts/entra/leases")
    rows = lease_rows(page)
    assert rows.count() >= 1
    expiries = [
        int(e)
        for e in page.locator("time.countdown").evaluate_all(
            "cells => cells.map(c => c.dataset.expires)"
        )
    ]
    assert expiries == sorted(expiries)  # expiring next first
    shoot(page, "leases")


def test_irrevocable_lease_shows_its_error_and_retry(
    page: Any, configured: Broker, tenant: Tenant
) -> None:
    configured.ok("PUT", "entra/roles/carol", json={"user_principal_name": CAROL})
    sign_in(page, configured)
    role_page(page, configured, "carol")
    shown = generate(page)
    close_dialog(page)
    tenant.fault(match=RESET, status=403, code="Authorization_RequestDenied")
    try:
        row = page.locator(f'tr[data-lease-id="{shown["lease_id"]}"]')
        row.get_by_role("button", name=REVOKE).click()
        assert "was not revoked" in notices(page)
        page.get_by_role("link", name="Irrevocable leases").click()
        row = page.locator(f'#irrevocable tr[data-lease-id="{shown["lease_id"]}"]')
        assert "not retryable" in row.inner_text()
        shoot(page, "irrevocable")
        row.get_by_role("button", name="Retry").click()
        assert "is still not revoked" in notices(page)
        assert "retried automatically" in notices(page)
    finally:
        tenant.clear_faults()
    # Root has sudo: force revoke is offered, and ends the lease's tracking.
    page.once("dialog", lambda dialog: dialog.accept())
    row = page.locator(f'#irrevocable tr[data-lease-id="{shown["lease_id"]}"]')
    row.get_by_role("button", name="Force revoke").click()
    assert "force-revoked" in notices(page)
    assert page.locator(f'tr[data-lease-id="{shown["lease_id"]}"]').count() == 0


@pytest.mark.usefixtures("alice_and_bob_roles")
def test_a_reloaded_generate_answer_issues_nothing(
    page: Any, configured: Broker, tenant: Tenant
) -> None:
    sign_in(page, configured)
    role_page(page, configured, "alice")
    shown = generate(page)
    changes = tenant.password_changes(ALICE)
    # The browser's "resend the form?" answered yes: the same form, sent again.
    page.reload()
    assert "sent already" in page.locator("#generate-error").inner_text()
    assert page.get_by_role("dialog").count() == 0
    assert tenant.password_changes(ALICE) == changes
    assert tenant.signs_in(ALICE, shown["password"])
