"""The dashboard's forgery checks: the browser's origin headers and the session's token."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from mount.ui.csrf import CsrfError, check_post, same_origin
from mount.ui.sessions import SessionStore

HOST = "127.0.0.1:8200"


def request(**headers: str):
    return make_mocked_request("POST", "/ui/signout", headers={"Host": HOST, **headers})


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Origin": f"http://{HOST}"}, True),
        ({"Origin": f"http://{HOST}", "Sec-Fetch-Site": "same-origin"}, True),
        ({"Origin": "null", "Sec-Fetch-Site": "same-origin"}, True),  # no-referrer pages
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Origin": "https://evil.test"}, False),
        ({"Origin": f"https://{HOST}"}, False),  # another scheme is another origin
        ({"Origin": "http://127.0.0.1:9999"}, False),
        ({"Origin": "null"}, False),
        ({"Origin": "null", "Sec-Fetch-Site": "cross-site"}, False),
        ({"Origin": f"http://{HOST}", "Sec-Fetch-Site": "same-site"}, False),
        ({"Origin": f"http://{HOST}", "Sec-Fetch-Site": "cross-site"}, False),
        # Behind a proxy that terminates TLS: the browser's fetch metadata decides.
        ({"Origin": f"https://{HOST}", "Sec-Fetch-Site": "same-origin"}, True),
        ({}, False),
    ],
)
def test_same_origin(headers: dict[str, str], allowed: bool) -> None:
    assert same_origin(request(**headers)) is allowed


def test_the_session_token_is_required() -> None:
    session = SessionStore().new()
    good = request(Origin=f"http://{HOST}")
    check_post(good, session, {"csrf_token": session.csrf})
    check_post(request(Origin=f"http://{HOST}", **{"X-CSRF-Token": session.csrf}), session, {})
    for form in ({}, {"csrf_token": ""}, {"csrf_token": session.csrf[:-1]}):
        with pytest.raises(CsrfError, match="security token"):
            check_post(good, session, form)
    with pytest.raises(CsrfError, match="security token"):
        check_post(good, None, {"csrf_token": session.csrf})
    other = SessionStore().new()
    with pytest.raises(CsrfError, match="security token"):
        check_post(good, other, {"csrf_token": session.csrf})
    with pytest.raises(CsrfError, match="own page"):
        check_post(request(Origin="https://evil.test"), session, {"csrf_token": session.csrf})
