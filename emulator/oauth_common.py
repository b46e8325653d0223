"""What every login endpoint shares: this server's address, Entra's refusals, token bodies."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from emulator.credentials import Application, SecretCheck
from emulator.responses import oauth_error
from emulator.state import TenantState
from emulator.tokens import TOKEN_LIFETIME

__all__ = [
    "base_url",
    "delegated_scp",
    "issuer",
    "missing_parameter",
    "refused_secret",
    "refused_user_grant",
    "token_body",
    "unknown_tenant",
]

_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})


_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


_DNS_NAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{1,63}")


def base_url(request: web.Request) -> str:
    """This server as the caller addressed it (the Host header), so any name or port works."""
    return f"https://{request.host}"


def issuer(request: web.Request, tenant_id: str) -> str:
    return f"{base_url(request)}/{tenant_id}/v2.0"


def unknown_tenant(request: web.Request, tenant: str, error: str) -> web.Response:
    if not _GUID.fullmatch(tenant) and not _DNS_NAME.fullmatch(tenant):
        return oauth_error(
            request,
            400,
            error,
            900023,
            f"Specified tenant identifier '{tenant}' is neither a valid DNS name, "
            "nor a valid external domain.",
        )
    return oauth_error(
        request,
        400,
        error,
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and "
        "are signing into the correct cloud. Check with your subscription administrator, "
        "this may happen if there are no active subscriptions for the tenant.",
    )


def missing_parameter(request: web.Request, name: str) -> web.Response:
    return oauth_error(
        request,
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


def _bad_secret(request: web.Request, app: Application) -> web.Response:
    return oauth_error(
        request,
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the "
        f"client secret value, not the client secret ID, for a secret added to app "
        f"'{app.app_id}'.",
    )


def refused_secret(
    request: web.Request, state: TenantState, app: Application, secret: str
) -> web.Response | None:
    """Entra's answer to a client secret that does not sign `app` in now; None if it does."""
    outcome = state.check_client_secret(app, secret)
    if outcome is SecretCheck.OK:
        return None
    if outcome is SecretCheck.EXPIRED:
        return oauth_error(
            request,
            401,
            "invalid_client",
            7000222,
            f"The provided client secret keys for app '{app.app_id}' are expired. Visit the "
            "Azure portal to create new keys for your app.",
        )
    # A wrong secret, and a new one that has not propagated yet, look the same.
    return _bad_secret(request, app)


def refused_user_grant(
    request: web.Request,
    state: TenantState,
    app: Application,
    form: dict[str, str],
    secret: str | None,
    required: tuple[str, ...],
) -> web.Response | None:
    """The checks a grant on a user's behalf makes first: the client's secret when it
    sent one (a public client sends none), then the form fields the grant needs."""
    if secret is not None:
        refused = refused_secret(request, state, app, secret)
        if refused is not None:
            return refused
    for name in required:
        if not form.get(name):
            return missing_parameter(request, name)
    return None


def token_body(
    access_token: str, extra: dict[str, str] | None = None, *, lifetime: int = TOKEN_LIFETIME
) -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
        **(extra or {}),
    }


def delegated_scp(scopes: list[str]) -> str:
    names: list[str] = []
    for scope in scopes:
        if scope in _RESERVED_SCOPES:
            continue
        name = scope.rsplit("/", 1)[-1]
        names.append("User.Read" if name == ".default" else name)
    return " ".join(dict.fromkeys(names)) or "User.Read"
