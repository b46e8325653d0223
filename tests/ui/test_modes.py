"""The dashboard in the server's other modes: dev mode, and a TLS listener (where its
session cookie is Secure). The config-file mode is the other modules' broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from mount.ui.sessions import COOKIE_NAME
from tests.server_process import Server, free_port
from tests.ui.conftest import Broker, sign_in, start_broker, stop_server

pytestmark = pytest.mark.usefixtures("browser")


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    workdir = tmp_path_factory.mktemp("ui-tls-broker")
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(workdir / "broker.pem"))
    cert.private_key_pem.write_to_path(str(workdir / "broker.key"))
    authority.cert_pem.write_to_path(str(workdir / "ca.pem"))
    server, url, root = start_broker(
        workdir,
        '  tls_cert_file = "broker.pem"\n  tls_key_file = "broker.key"\n',
        scheme="https",
    )
    yield Broker(server, url, root, verify=str(workdir / "ca.pem"))
    stop_server(server)


def test_the_dashboard_works_over_tls_with_a_secure_cookie(
    page: Any, context: Any, tls_broker: Broker
) -> None:
    page.goto(f"{tls_broker.url}/")
    assert page.url == f"{tls_broker.url}/ui/signin"
    sign_in(page, tls_broker)
    assert page.get_by_role("link", name="entra/").is_visible()
    cookie = next(c for c in context.cookies() if c["name"] == COOKIE_NAME)
    assert cookie["secure"] is True
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    # A POST from the page passes the origin check under https too.
    page.get_by_role("button", name="Sign out").click()
    assert page.url == f"{tls_broker.url}/ui/signin"
    assert "Signed out" in page.locator("#notices").inner_text()


def test_the_dashboard_works_in_dev_mode(page: Any) -> None:
    port = free_port()
    server = Server(["server", "--dev", "-dev-listen-address", f"127.0.0.1:{port}"])
    try:
        root = server.wait_for(r"Root Token: (\S+)").group(1)
        broker = Broker(server, f"http://127.0.0.1:{port}", root)
        sign_in(page, broker)
        page.get_by_role("link", name="entra/").click()
        roles = page.locator("#roles").inner_text()
        for user in ("alice", "bob", "carol"):
            assert f"{user}@example.test" in roles
        page.get_by_role("link", name="alice", exact=True).click()
        page.get_by_role("button", name="Generate").click()
        dialog = page.get_by_role("dialog")
        assert dialog.get_by_label("User principal name").input_value() == "alice@example.test"
        assert dialog.get_by_label("Password").input_value()
    finally:
        stop_server(server)
