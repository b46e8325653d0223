"""axe-core on every page of the dashboard: no serious or critical violation."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.conftest import Broker, close_dialog, sign_in

axe_module = pytest.importorskip("axe_playwright_python.sync_playwright")

PAGES = [
    "/ui/mounts/entra/",
    "/ui/mounts/entra/config",
    "/ui/mounts/entra/new-roles",
    "/ui/mounts/entra/leases",
    "/ui/mounts/entra/roles/alice",
    "/ui/mounts/entra/roles/alice/revoke-all",
    "/ui/irrevocable",
    "/ui/",
]


def serious(page: Any) -> list[str]:
    results = axe_module.Axe().run(page)
    assert results.response["testEngine"]["name"] == "axe-core"  # it ran, on this page
    assert results.response["url"] == page.url
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def axe_page(browser: Any) -> Any:
    # axe is injected as a script: the page's own CSP would refuse it.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def test_no_serious_violation_on_any_page(axe_page: Any, configured: Broker) -> None:
    page = axe_page
    configured.ok("PUT", "entra/roles/alice", json={"user_principal_name": "alice@example.test"})
    page.goto(f"{configured.url}/ui/signin")
    found = {"/ui/signin": serious(page)}
    sign_in(page, configured)
    for path in PAGES:
        page.goto(configured.url + path)
        found[path] = serious(page)
    # The credential dialog, open.
    page.goto(f"{configured.url}/ui/mounts/entra/roles/alice")
    page.get_by_role("button", name="Generate").click()
    page.get_by_role("dialog").wait_for()
    found["generate dialog"] = serious(page)
    assert {path: problems for path, problems in found.items() if problems} == {}


def test_sign_in_and_generate_from_the_keyboard(page: Any, configured: Broker) -> None:
    configured.ok("PUT", "entra/roles/alice", json={"user_principal_name": "alice@example.test"})
    page.goto(f"{configured.url}/ui/signin")
    assert page.evaluate("document.activeElement.id") == "token"  # focus starts there
    page.keyboard.type(configured.root)
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Sign out").wait_for()
    page.goto(f"{configured.url}/ui/mounts/entra/roles/alice")
    page.locator("#generate-form button[type=submit]").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    # The focus is in the dialog; Tab reaches none of the page's controls behind it (it
    # is modal: past its last control the focus leaves for the browser, then comes back).
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    inside = 0
    for _ in range(12):
        page.keyboard.press("Tab")
        where = page.evaluate(
            "document.activeElement === document.body ? 'browser'"
            " : document.activeElement.closest('dialog') ? 'dialog' : 'page'"
        )
        assert where != "page"
        inside += where == "dialog"
    assert inside >= 8
    close_dialog(page)  # closed, then taken out of the page by the close handler
    # The focus lands on the lease table's heading, not lost at the top of the page.
    assert page.evaluate("document.activeElement.id") == "leases-heading"
