"""Response headers for every answer under /ui/: a strict CSP, no framing, no caching."""

from __future__ import annotations

from aiohttp import web

__all__ = ["UI_HEADERS", "add_security_headers"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
UI_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages show lease ids and, once, a credential: nothing of them may be cached.
    "Cache-Control": "no-store",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An on_response_prepare hook: it also covers redirects, errors and static files."""
    if request.path == "/ui" or request.path.startswith("/ui/"):
        response.headers.update(UI_HEADERS)
