"""The emulator's aiohttp application: one tenant's login endpoints and Graph on one address."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiohttp import web

from emulator.admin import add_admin_routes
from emulator.admin_credentials import add_credential_admin_routes
from emulator.faults import FaultBook
from emulator.graph import add_graph_routes
from emulator.graph_credentials import add_credential_routes
from emulator.keys import (
    CALLS_KEY,
    CLOSING_KEY,
    FAULTS_KEY,
    SETTINGS_KEY,
    SIGN_IN_KEY,
    STATE_KEY,
    TOKENS_KEY,
)
from emulator.login import add_login_routes
from emulator.middleware import MIDDLEWARES
from emulator.settings import EmulatorSettings
from emulator.sign_in import SignInBook
from emulator.sign_in_admin import add_sign_in_admin_routes
from emulator.state import TenantState
from emulator.tokens import TokenIssuer

__all__ = ["create_emulator_app"]

_MAX_BODY = 1024 * 1024


async def _release_held_calls(app: web.Application) -> None:
    """On shutdown, calls held or delayed by faults give up instead of blocking it."""
    app[CLOSING_KEY].set()


def _add_groups(app: web.Application, settings: EmulatorSettings) -> None:
    state, book = app[STATE_KEY], app[SIGN_IN_KEY]
    for name, members in settings.groups.items():
        group = book.add_group(name)
        for upn in members:
            user = state.find_user(upn)
            if user is None:
                raise ValueError(f"no user {upn!r} to add to group {name!r}")
            group.members.append(user.id)


def create_emulator_app(settings: EmulatorSettings) -> web.Application:
    """A fresh tenant: state, signing key, no faults, zeroed call counters.

    Serve it over HTTPS (EmulatorServer does): msal refuses plain-http authorities.
    """
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=_MAX_BODY)
    app[SETTINGS_KEY] = settings
    app[STATE_KEY] = TenantState(settings)
    app[TOKENS_KEY] = TokenIssuer()
    app[FAULTS_KEY] = FaultBook()
    app[SIGN_IN_KEY] = SignInBook()
    _add_groups(app, settings)
    app[CALLS_KEY] = Counter()
    app[CLOSING_KEY] = asyncio.Event()
    app.on_shutdown.append(_release_held_calls)
    # Admin and login first; Graph last, as it ends with catch-all routes for /v1.0 and /beta.
    add_admin_routes(app.router)
    add_credential_admin_routes(app.router)
    add_sign_in_admin_routes(app.router)
    add_login_routes(app.router)
    add_credential_routes(app.router)
    add_graph_routes(app.router)
    return app
