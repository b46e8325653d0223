"""Browser tests of the dashboard: the broker in a subprocess, Debian's Chromium driven by
Playwright's sync API in this process (so no clash with pytest-aiohttp's loop).

One emulated tenant and one broker (config-file mode, entra/ mounted but not configured)
serve the whole package; tests act on them in the order of their modules, as a user
would. The fixtures are package-scoped so that Playwright's loop has stopped before any
asyncio test of another package runs in this process.
Screenshots the docs use are written to docs/ui/.
"""

from __future__ import annotations

import concurrent.futures
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator import ThreadedEmulator
from tests.e2e.conftest import CLIENT, SECRET, TENANT, Tenant, running_emulator
from tests.server_process import Server, free_port
from tests.waiting import wait_until_sync

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS_UI = Path(__file__).resolve().parents[2] / "docs" / "ui"
# Playwright's own waits (a page load, a locator) give up after this many milliseconds.
BROWSER_TIMEOUT_MS = 15_000


@dataclass
class Broker:
    """The broker subprocess and a raw HTTP client with its root token."""

    server: Server
    url: str
    root: str
    verify: Any = False

    def api(
        self, method: str, path: str, token: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"X-Vault-Token": token or self.root}
        with httpx.Client(trust_env=False, timeout=30, verify=self.verify) as client:
            return client.request(method, f"{self.url}/v1/{path}", headers=headers, **kwargs)

    def ok(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        response = self.api(method, path, token, **kwargs)
        assert response.status_code in (200, 204), f"{method} {path}: {response.text}"
        return response.json() if response.content else None


def start_broker(workdir: Path, listener: str, scheme: str = "http") -> tuple[Server, str, str]:
    """`entra-broker server --config` with TinyDB storage in `workdir`."""
    port = free_port()
    config = workdir / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n{listener}}}\n'
        'storage "tinydb" {\n  path = "data/broker.json"\n}\n'
        "role_issue_limit = 0\n"
    )
    (workdir / "data").mkdir(exist_ok=True)
    server = Server(["server", "--config", str(config)], cwd=workdir)
    root = server.wait_for(r"Root Token: (\S+)").group(1)
    return server, f"{scheme}://127.0.0.1:{port}", root


def stop_server(server: Server) -> None:
    try:
        server.stop()
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


@pytest.fixture(scope="package")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedEmulator]:
    with running_emulator(tmp_path_factory.mktemp("ui-emulator")) as emu:
        yield emu


class BrowserTenant(Tenant):
    """The tenant's sign-in check, run on a thread of its own: Playwright's sync API keeps
    an event loop running on this one, where asyncio.run() is refused."""

    def signs_in(self, upn: str, password: str) -> bool:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(Tenant.signs_in, self, upn, password).result(timeout=30)


@pytest.fixture(scope="package")
def tenant(emulator: ThreadedEmulator) -> Tenant:
    return BrowserTenant(emulator)


@pytest.fixture(scope="package")
def broker(
    tmp_path_factory: pytest.TempPathFactory, emulator: ThreadedEmulator
) -> Iterator[Broker]:
    # After the emulator, so stopped before it: no connection of ours is left open on it.
    server, url, root = start_broker(tmp_path_factory.mktemp("ui-broker"), "  tls_disable = true\n")
    yield Broker(server, url, root)
    stop_server(server)


def config_data(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant_id": TENANT,
        "client_id": CLIENT,
        "client_secret": SECRET,
        "authority_host": tenant.base_url,
        "graph_endpoint": tenant.base_url,
        "ca_cert": tenant.ca_path.read_text(),
    }


@pytest.fixture(scope="package")
def configured(broker: Broker, tenant: Tenant) -> Broker:
    """entra/config written through the API (tests that configure through the page
    write the same values again)."""
    broker.ok("PUT", "entra/config", json=config_data(tenant))
    return broker


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's Chromium is not at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as driver:
        launched = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
    ctx.set_default_timeout(BROWSER_TIMEOUT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


def sign_in(page: Any, broker: Broker, token: str | None = None) -> None:
    page.goto(f"{broker.url}/ui/")
    page.get_by_label("Token").fill(token or broker.root)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def shoot(page: Any, name: str) -> None:
    """A screenshot for docs/ui.md (written by the tests, so the docs show what runs)."""
    DOCS_UI.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_UI / f"{name}.png"), full_page=True, animations="disabled")


def close_dialog(page: Any) -> None:
    """Close the credential dialog with Escape, as a user would, once the page's script
    has made it a modal (Escape does nothing to the open-without-script rendering), and
    wait until the close handler has taken it out of the page."""
    page.locator("dialog#credential:modal").wait_for()
    page.keyboard.press("Escape")
    page.locator("dialog#credential").wait_for(state="detached")


def notices(page: Any) -> str:
    """The page's notices, once it has one (every caller expects one: the answer to the
    form it just sent)."""
    page.locator("#notices .notice").first.wait_for()
    return " ".join(page.locator("#notices").all_inner_texts())


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "no CSRF field in the page"
    return found.group(1)


def wait_for(condition: Any, timeout: float = 10.0) -> float:
    return wait_until_sync(condition, timeout, interval=0.05)
