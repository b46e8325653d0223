"""Cross-site request forgery: every POST to /ui/ must come from our own pages.

Two checks, both required: the browser says the POST comes from this server's own
origin, and the form carries the session's CSRF token (a hidden field `csrf_token`, or the
`X-CSRF-Token` header for fetch()).

The browser's own word is the Fetch Metadata header `Sec-Fetch-Site`, which a page
elsewhere cannot forge: where it is sent it decides, and must be `same-origin`. (Under
our `Referrer-Policy: no-referrer` Chromium sends `Origin: null`, and behind a proxy that
terminates TLS the Origin's scheme is not the one this server sees.) A browser too old to
send it must send an Origin naming this server.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from aiohttp import web

from mount.ui.sessions import Session

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "CsrfError", "check_post", "same_origin"]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class CsrfError(Exception):
    """A POST that may come from another site; answered 403 with this sentence."""


def same_origin(request: web.Request) -> bool:
    """Whether the browser says the request comes from this server's own pages."""
    site = request.headers.get("Sec-Fetch-Site", "")
    if site:
        return site == "same-origin"
    return request.headers.get("Origin", "") == f"{request.scheme}://{request.host}"


def check_post(request: web.Request, session: Session | None, form: Mapping[str, str]) -> None:
    """Raise CsrfError unless this POST comes from a page of ours in this session."""
    if not same_origin(request):
        raise CsrfError(
            "this form was not sent from this server's own page (the Origin and "
            "Sec-Fetch-Site headers are missing or name another site); open the page again "
            "and resend it"
        )
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    if session is None or not sent or not hmac.compare_digest(sent, session.csrf):
        raise CsrfError(
            "this form's security token is missing or out of date (the session may have "
            "ended); open the page again and resend it"
        )
