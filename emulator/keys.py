"""Typed keys for what the emulator keeps on its application and on each request."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiohttp import web

from emulator.faults import FaultBook
from emulator.settings import EmulatorSettings
from emulator.sign_in import SignInBook
from emulator.state import TenantState
from emulator.tokens import TokenIssuer

__all__ = [
    "CALLS_KEY",
    "CLIENT_REQUEST_ID",
    "CLOSING_KEY",
    "FAULTS_KEY",
    "REQUEST_ID",
    "SETTINGS_KEY",
    "SIGN_IN_KEY",
    "STATE_KEY",
    "TOKENS_KEY",
]

SETTINGS_KEY = web.AppKey("emulator_settings", EmulatorSettings)
STATE_KEY = web.AppKey("emulator_state", TenantState)
TOKENS_KEY = web.AppKey("emulator_tokens", TokenIssuer)
# Groups, the signed-in user and authorization codes (emulator/sign_in.py).
SIGN_IN_KEY = web.AppKey("emulator_sign_in", SignInBook)
FAULTS_KEY = web.AppKey("emulator_faults", FaultBook)
# Calls by "METHOD route", e.g. "PATCH /v1.0/users/{id}".
CALLS_KEY: web.AppKey[Counter[str]] = web.AppKey("emulator_calls")
# Set on shutdown, so held (timeout) and delayed calls give up at once.
CLOSING_KEY = web.AppKey("emulator_closing", asyncio.Event)

REQUEST_ID = web.RequestKey("emulator_request_id", str)
CLIENT_REQUEST_ID = web.RequestKey("emulator_client_request_id", str)
