"""The dashboard's security promises: headers, cookie flags, CSRF, the token kept out of
every page, and sessions that end on sign-out and when the token ends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mount.ui.security import CSP
from mount.ui.sessions import COOKIE_NAME
from tests.ui.conftest import Broker, csrf_of, sign_in, wait_for

pytestmark = pytest.mark.usefixtures("browser")

PAGES = [
    "/ui/",
    "/ui/mounts/entra/",
    "/ui/mounts/entra/config",
    "/ui/mounts/entra/new-roles",
    "/ui/mounts/entra/leases",
    "/ui/mounts/entra/roles/alice",
    "/ui/irrevocable",
]


def session_cookie(context: Any) -> dict[str, Any]:
    found = [c for c in context.cookies() if c["name"] == COOKIE_NAME]
    assert len(found) == 1, context.cookies()
    return found[0]


def http(broker: Broker, cookie: str | None = None) -> httpx.Client:
    cookies = {COOKIE_NAME: cookie} if cookie else None
    return httpx.Client(
        base_url=broker.url, cookies=cookies, trust_env=False, timeout=30, verify=broker.verify
    )


def test_every_page_sends_the_security_headers(page: Any, context: Any, configured: Broker) -> None:
    answers = []
    page.on("response", lambda response: answers.append(response))
    # Script errors and CSP refusals ("Refused to ...") reach the console: none may occur.
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    sign_in(page, configured)
    for path in PAGES:
        response = page.goto(configured.url + path)
        assert response is not None and response.status == 200, path
    ui_answers = [r for r in answers if "/ui/" in r.url]
    assert len(ui_answers) > len(PAGES)  # pages, redirects, the script and the style sheet
    for response in ui_answers:
        headers = response.headers
        assert headers["content-security-policy"] == CSP, response.url
        assert headers["x-frame-options"] == "DENY", response.url
        assert headers["x-content-type-options"] == "nosniff", response.url
        assert headers["referrer-policy"] == "no-referrer", response.url
        assert headers["cache-control"] == "no-store", response.url
    cookie = session_cookie(context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/ui/"
    assert cookie["secure"] is False  # plain HTTP here; test_modes.py checks Secure under TLS
    # No page has inline script: the CSP would block it, and the page would break.
    for path in PAGES:
        page.goto(configured.url + path)
        assert page.locator("script:not([src])").count() == 0, path
    assert problems == []


def test_the_token_never_appears_in_a_page(page: Any, configured: Broker) -> None:
    sign_in(page, configured)
    for path in PAGES:
        page.goto(configured.url + path)
        assert configured.root not in page.content(), path
        assert configured.root not in page.url
    # Nor in what the server sends (the DOM aside), nor in its log.
    cookie = session_cookie(page.context)["value"]
    assert configured.root not in cookie
    with http(configured, cookie) as client:
        for path in PAGES:
            answer = client.get(path)
            assert answer.status_code == 200, path
            assert configured.root not in answer.text, path
    after_banner = configured.server.output.split(f"Root Token: {configured.root}", 1)[1]
    assert configured.root not in after_banner


def test_a_post_without_the_csrf_token_is_refused(page: Any, configured: Broker) -> None:
    sign_in(page, configured)
    cookie = session_cookie(page.context)["value"]
    origin = {"Origin": configured.url}
    with http(configured, cookie) as client:
        token = csrf_of(client.get("/ui/mounts/entra/roles/alice").text)
        missing = client.post("/ui/signout", data={}, headers=origin)
        assert missing.status_code == 403
        assert "security token is missing" in missing.text
        wrong = client.post("/ui/signout", data={"csrf_token": "x" * 43}, headers=origin)
        assert wrong.status_code == 403
        elsewhere = client.post(
            "/ui/signout", data={"csrf_token": token}, headers={"Origin": "https://evil.test"}
        )
        assert elsewhere.status_code == 403
        assert "not sent from this server's own page" in elsewhere.text
        cross_site = client.post(
            "/ui/signout",
            data={"csrf_token": token},
            headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        )
        assert cross_site.status_code == 403
        # Still signed in: none of those did anything.
        assert client.get("/ui/", follow_redirects=False).status_code == 200


def test_sign_out_ends_the_session(page: Any, configured: Broker) -> None:
    sign_in(page, configured)
    old = session_cookie(page.context)["value"]
    page.get_by_role("button", name="Sign out").click()
    assert page.url == f"{configured.url}/ui/signin"
    assert "Signed out" in page.locator("#notices").inner_text()
    with http(configured, old) as client:
        answer = client.get("/ui/mounts/entra/", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["Location"] == "/ui/signin"
    page.goto(f"{configured.url}/ui/mounts/entra/")
    assert page.url == f"{configured.url}/ui/signin"


def test_a_revoked_token_ends_the_session(page: Any, configured: Broker) -> None:
    created = configured.ok("POST", "auth/token/create", json={"policies": ["default"]})
    token = created["auth"]["client_token"]
    sign_in(page, configured, token)
    configured.ok("POST", "auth/token/revoke", json={"token": token})
    page.goto(f"{configured.url}/ui/")
    assert page.url == f"{configured.url}/ui/signin"
    assert "token expired or was revoked" in page.locator("#notices").inner_text()


def test_an_expired_token_ends_the_session(page: Any, configured: Broker) -> None:
    created = configured.ok(
        "POST", "auth/token/create", json={"policies": ["default"], "ttl": "1s"}
    )
    token = created["auth"]["client_token"]
    sign_in(page, configured, token)
    wait_for(lambda: configured.api("GET", "auth/token/lookup-self", token).status_code == 403)
    page.goto(f"{configured.url}/ui/")
    assert page.url == f"{configured.url}/ui/signin"
    assert "token expired or was revoked" in page.locator("#notices").inner_text()
