"""A local Entra ID tenant over HTTPS: msal's login endpoints and the Graph calls we make.

For tests, dev mode and demos; state lives in memory and dies with the process.
"""

from __future__ import annotations

from emulator.app import create_emulator_app
from emulator.client import PasswordCheckError, check_password
from emulator.server import EmulatorServer, ThreadedEmulator
from emulator.settings import EmulatorSettings
from emulator.state import TenantState, User

__all__ = [
    "EmulatorServer",
    "EmulatorSettings",
    "PasswordCheckError",
    "TenantState",
    "ThreadedEmulator",
    "User",
    "check_password",
    "create_emulator_app",
]
