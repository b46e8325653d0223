"""Checking a user's password the way a person would: a password grant at the token endpoint."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

__all__ = ["PasswordCheckError", "check_password"]

GRAPH_DEFAULT_SCOPE = "https://graph.microsoft.com/.default"


class PasswordCheckError(Exception):
    """The token endpoint answered neither "signed in" nor "wrong credentials"."""


async def check_password(
    base_url: str,
    tenant_id: str,
    client_id: str,
    username: str,
    password: str,
    ca_path: Path | str,
    *,
    timeout: float = 10.0,
) -> bool:
    """True when `password` signs `username` in (200), False on 400 invalid_grant.

    Any other answer (an unknown client, an injected 429 or 5xx) raises
    PasswordCheckError, so a fault is never mistaken for a refused password.
    The password never appears in the error.
    """
    context = ssl.create_default_context(cafile=str(ca_path))
    url = f"{base_url.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
    form = {
        "grant_type": "password",
        "client_id": client_id,
        "username": username,
        "password": password,
        "scope": GRAPH_DEFAULT_SCOPE,
    }
    async with httpx.AsyncClient(verify=context, timeout=timeout, trust_env=False) as client:
        response = await client.post(url, data=form)
    if response.status_code == 200:
        return True
    try:
        error = response.json().get("error", "")
    except (ValueError, AttributeError):
        error = ""
    if response.status_code == 400 and error == "invalid_grant":
        return False
    raise PasswordCheckError(
        f"the token endpoint at {url} answered {response.status_code} {error or ''}".rstrip()
    )
