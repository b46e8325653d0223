"""The aiohttp application around a built core (mount/build.py): it serves `/v1/`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TypedDict

from aiohttp import web

from mount.core import Core
from mount.http.envelope import parse_request, render
from mount.http.errors import error_middleware
from mount.http.list_method import enable_list_method
from mount.http.metrics import request_metrics_middleware
from mount.leases.expiry import ExpiryWorker
from mount.tokens.expiry import TokenExpiryWorker
from mount.ui import setup_ui

__all__ = ["CORE_KEY", "HTTP_PARSER_LIMITS", "create_app"]

logger = logging.getLogger(__name__)

CORE_KEY = web.AppKey("core", Core)
MAX_BODY_BYTES = 1024 * 1024
READ_TIMEOUT = 30.0  # Vault's http_read_timeout


# HTTP parser limits for the runner (aiohttp's defaults are 8190 bytes a line): long
# enough that any real path or header gets a Vault JSON answer, small enough that one
# request's headers stay under ~6 MB. Beyond them aiohttp answers a plain-text 400, as Go's
# server (Vault's) answers a plain-text 431 beyond its 1 MiB of headers.
class ParserLimits(TypedDict):
    max_line_size: int
    max_field_size: int
    max_headers: int


HTTP_PARSER_LIMITS: ParserLimits = {
    "max_line_size": 64 * 1024,
    "max_field_size": 64 * 1024,
    "max_headers": 100,
}


def create_app(
    core: Core,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    read_timeout: float = READ_TIMEOUT,
) -> web.Application:
    """The HTTP application around a built core; its cleanup context runs the expiry worker.

    `read_timeout` bounds the reading of a request body (the listener's
    `http_read_timeout`; the header has its own timer in mount/http/listener.py).
    """
    enable_list_method()
    app = web.Application(
        # The request counter is outermost: it sees the status error_middleware chose.
        middlewares=[request_metrics_middleware(core.metrics), error_middleware],
        client_max_size=max_body_bytes,
    )
    app[CORE_KEY] = core

    async def api(request: web.Request) -> web.StreamResponse:
        parsed = await parse_request(request, read_timeout=read_timeout)
        return render(await core.handle(parsed), request_id=parsed.request_id)

    async def root(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect("/ui/")

    async def background(app: web.Application) -> AsyncIterator[None]:
        worker = ExpiryWorker(core.leases, gate=core.seal.wait_unsealed)
        worker.start()
        token_worker = TokenExpiryWorker(core.tokens, gate=core.seal.wait_unsealed)
        token_worker.start()
        yield
        await core.leases.stop_restore()
        await token_worker.stop()
        await worker.stop()
        for entry in core.mounts.entries():
            await entry.backend.close()
        await core.audit.close()

    async def drop_server_header(request: web.Request, response: web.StreamResponse) -> None:
        # Vault sends no Server header; ours would only advertise library versions.
        response.headers.popall("Server", None)

    app.on_response_prepare.append(drop_server_header)
    # [\s\S], not ".": a path with an encoded newline still reaches the API's errors.
    app.router.add_route("*", r"/v1/{path:[\s\S]*}", api)
    app.router.add_get("/", root)
    setup_ui(app, core)  # the dashboard at /ui/
    app.cleanup_ctx.append(background)
    return app
