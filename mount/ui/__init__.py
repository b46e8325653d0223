"""The dashboard at /ui/: server-rendered pages over the same Vault API the CLI uses.

`setup_ui(app, core)` is the one call the app factory makes. Every page acts with the
signed-in user's token through `Core.handle` (see api.py); the token stays in the
server's memory (sessions.py); every POST is checked against forgery (csrf.py); every
answer carries a strict CSP and no-store (security.py).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from mount.core import Core
from mount.sdk.durations import format_duration
from mount.ui import (
    page_config,
    page_irrevocable,
    page_leases,
    page_mounts,
    page_oidc,
    page_role,
    page_roles,
    page_signin,
)
from mount.ui.api import UiApi
from mount.ui.security import add_security_headers
from mount.ui.sessions import SessionStore
from mount.ui.views import UI_KEY, UiState

__all__ = ["ENGINE_TYPES", "setup_ui"]

HERE = Path(__file__).parent
# The engine types whose mounts the dashboard manages.
ENGINE_TYPES = ("entra",)


def setup_ui(
    app: web.Application, core: Core, *, engine_types: tuple[str, ...] = ENGINE_TYPES
) -> None:
    """Serve the dashboard under /ui/ from `app`, acting through `core`."""
    app[UI_KEY] = UiState(api=UiApi(core), sessions=SessionStore(), engine_types=engine_types)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        filters={"duration": format_duration},
    )
    for module in (
        page_signin,
        page_oidc,
        page_mounts,
        page_roles,
        page_config,
        page_role,
        page_leases,
        page_irrevocable,
    ):
        app.router.add_routes(module.routes())
    app.router.add_static("/ui/static/", HERE / "static", append_version=True)
    app.on_response_prepare.append(add_security_headers)
