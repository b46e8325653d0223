"""The authorization-code flow: authorize signs a user in at once and hands out a one-use
code; the token endpoint redeems it (with its PKCE verifier) for an access and id token."""

from __future__ import annotations

import time
from collections.abc import Mapping
from urllib.parse import urlencode

from aiohttp import web

from emulator.credentials import Application
from emulator.keys import SIGN_IN_KEY, STATE_KEY, TOKENS_KEY
from emulator.oauth_common import (
    delegated_scp,
    issuer,
    missing_parameter,
    refused_user_grant,
    token_body,
    unknown_tenant,
)
from emulator.responses import oauth_error
from emulator.sign_in import CODE_LIFETIME, AuthorizationCode, pkce_matches
from emulator.state import TenantState, User

__all__ = ["authorization_code", "authorize"]


async def authorize(request: web.Request) -> web.Response:
    """GET /{tenant}/oauth2/v2.0/authorize: the authorization-code flow, without a browser.

    The user named by `login_hint`, else the one set with PUT /_emulator/signed-in, is
    signed in at once; the answer is a redirect to redirect_uri with a one-use code.
    """
    state = request.app[STATE_KEY]
    tenant = request.match_info["tenant"]
    if not state.knows_tenant(tenant):
        return unknown_tenant(request, tenant, "invalid_request")
    q = request.query
    refused = _refused_authorize(request, state, q)
    if refused is not None:
        return refused
    redirect_uri = q["redirect_uri"]
    method = q.get("code_challenge_method", "plain" if q.get("code_challenge") else "")
    if method not in ("", "plain", "S256"):
        return _redirect_error(
            request, redirect_uri, "invalid_request", "code_challenge_method must be S256 or plain."
        )
    user = _signed_in_user(request, state)
    if user is None:
        return oauth_error(
            request,
            400,
            "interaction_required",
            50058,
            "No user is signed in to the Entra emulator: pass login_hint=<userPrincipalName> "
            'or PUT /_emulator/signed-in {"user": "<userPrincipalName>"} first.',
        )
    code = request.app[SIGN_IN_KEY].issue_code(
        AuthorizationCode(
            client_id=q["client_id"],
            redirect_uri=redirect_uri,
            user_id=user.id,
            scope=q.get("scope", "openid"),
            nonce=q.get("nonce", ""),
            code_challenge=q.get("code_challenge", ""),
            code_challenge_method=method,
            expires=time.monotonic() + CODE_LIFETIME,
        )
    )
    params = {"code": code}
    if "state" in q:
        params["state"] = q["state"]
    return _found(_with_query(redirect_uri, params))


def _refused_authorize(
    request: web.Request, state: TenantState, q: Mapping[str, str]
) -> web.Response | None:
    """Entra's answer to an authorize request it cannot start; None if it can."""
    for name in ("client_id", "redirect_uri", "response_type"):
        if not q.get(name):
            return missing_parameter(request, name)
    if state.find_application(q["client_id"]) is None:
        return oauth_error(
            request,
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{q['client_id']}' was not found in the directory "
            f"'{state.tenant_id}'.",
        )
    redirect_uri = q["redirect_uri"]
    if not redirect_uri.startswith(("http://", "https://")):
        return oauth_error(
            request,
            400,
            "invalid_request",
            50011,
            f"The redirect URI '{redirect_uri}' specified in the request does not match the "
            "redirect URIs configured for the application.",
        )
    if q["response_type"] != "code":
        # Past the redirect URI check, errors go back to the client, as Entra sends them.
        return _redirect_error(
            request,
            redirect_uri,
            "unsupported_response_type",
            "Only response_type=code is supported by the emulator.",
        )
    return None


def _signed_in_user(request: web.Request, state: TenantState) -> User | None:
    """The enabled user `login_hint` names, else the one PUT /_emulator/signed-in set."""
    book = request.app[SIGN_IN_KEY]
    name = request.query.get("login_hint", "") or book.signed_in or ""
    user = state.find_user(name) if name else None
    return user if user is not None and user.account_enabled else None


def _found(location: str) -> web.Response:
    # A plain response, not web.HTTPFound: the middleware renders raised HTTP errors as JSON.
    return web.Response(status=302, headers={"Location": location})


def _with_query(uri: str, params: dict[str, str]) -> str:
    return uri + ("&" if "?" in uri else "?") + urlencode(params)


def _redirect_error(
    request: web.Request, redirect_uri: str, error: str, description: str
) -> web.Response:
    params = {"error": error, "error_description": description}
    if "state" in request.query:
        params["state"] = request.query["state"]
    return _found(_with_query(redirect_uri, params))


def authorization_code(
    request: web.Request,
    state: TenantState,
    app: Application,
    form: dict[str, str],
    secret: str | None,
) -> web.Response:
    """grant_type=authorization_code: a code from authorize, its PKCE verifier, the client."""
    refused = refused_user_grant(request, state, app, form, secret, ("code", "redirect_uri"))
    if refused is not None:
        return refused
    grant = request.app[SIGN_IN_KEY].redeem(form["code"])
    if grant is None or grant.client_id != app.app_id:
        return oauth_error(
            request,
            400,
            "invalid_grant",
            70008,
            "The provided authorization code or refresh token has expired due to inactivity, "
            "was already redeemed or was not issued to this client.",
        )
    refused = _refused_grant(request, grant, form, secret)
    if refused is not None:
        return refused
    user = state.find_user(grant.user_id)
    if user is None or not user.account_enabled:
        return oauth_error(request, 400, "invalid_grant", 50057, "The user account is disabled.")
    return _user_tokens(request, state, app, grant, user)


def _refused_grant(
    request: web.Request, grant: AuthorizationCode, form: dict[str, str], secret: str | None
) -> web.Response | None:
    """A redeemed code whose redirect URI or proof does not match; None if all match."""
    if grant.redirect_uri != form["redirect_uri"]:
        return oauth_error(
            request,
            400,
            "invalid_grant",
            70001,
            "The redirect_uri does not match the one the authorization code was issued for.",
        )
    if grant.code_challenge:
        verifier = form.get("code_verifier", "")
        if not verifier:
            return missing_parameter(request, "code_verifier")
        if not pkce_matches(verifier, grant.code_challenge, grant.code_challenge_method):
            return oauth_error(
                request,
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
        return None
    if secret is None:
        # Without PKCE, only a confidential client may redeem a code.
        return oauth_error(
            request,
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    return None


def _user_tokens(
    request: web.Request,
    state: TenantState,
    app: Application,
    grant: AuthorizationCode,
    user: User,
) -> web.Response:
    """The access token and the id token (with the user's groups) a redeemed code earns."""
    token_issuer = issuer(request, state.tenant_id)
    tokens = request.app[TOKENS_KEY]
    access_token = tokens.user_token(
        issuer=token_issuer,
        tenant_id=state.tenant_id,
        client_id=app.app_id,
        user_id=user.id,
        upn=user.user_principal_name,
        name=user.display_name,
        scp=delegated_scp(grant.scope.split()),
    )
    id_token = tokens.id_token(
        issuer=token_issuer,
        tenant_id=state.tenant_id,
        client_id=app.app_id,
        user_id=user.id,
        upn=user.user_principal_name,
        name=user.display_name,
        nonce=grant.nonce,
        groups=request.app[SIGN_IN_KEY].groups_of(user.id),
    )
    return web.json_response(token_body(access_token, {"scope": grant.scope, "id_token": id_token}))
