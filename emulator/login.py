"""The token endpoint: client credentials (secret or certificate), password, and the
authorization code that authorize (emulator/authorize.py) handed out."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from aiohttp import web

from emulator.assertions import ASSERTION_TYPE, AssertionRefused, verify_client_assertion
from emulator.authorize import authorization_code, authorize
from emulator.credentials import Application
from emulator.discovery import openid_configuration, signing_keys, user_realm
from emulator.keys import SIGN_IN_KEY, STATE_KEY, TOKENS_KEY
from emulator.oauth_common import (
    base_url,
    delegated_scp,
    issuer,
    missing_parameter,
    refused_secret,
    refused_user_grant,
    token_body,
    unknown_tenant,
)
from emulator.responses import oauth_error
from emulator.state import SignIn, TenantState
from emulator.tokens import client_info

__all__ = ["add_login_routes"]


def _basic_credentials(request: web.Request) -> tuple[str, str] | None | web.Response:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return oauth_error(
            request, 401, "invalid_client", 7000216, "The Basic authorization header is malformed."
        )
    # RFC 6749 2.3.1: both parts are form-urlencoded before being joined.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def token(request: web.Request) -> web.Response:
    """POST /{tenant}/oauth2/v2.0/token: client_credentials, password, authorization_code."""
    state = request.app[STATE_KEY]
    tenant = request.match_info["tenant"]
    if not state.knows_tenant(tenant):
        return unknown_tenant(request, tenant, "invalid_request")
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    basic = _basic_credentials(request)
    if isinstance(basic, web.Response):
        return basic
    grant = form.get("grant_type", "")
    if not grant:
        return missing_parameter(request, "grant_type")
    if grant not in ("client_credentials", "password", "authorization_code"):
        return oauth_error(
            request,
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant}'.",
        )
    client_id = form.get("client_id") or (basic[0] if basic else "")
    if not client_id:
        return missing_parameter(request, "client_id")
    app = state.find_application(client_id)
    if app is None:
        return oauth_error(
            request,
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{state.tenant_id}'. This can happen if the application has not been installed "
            "by the administrator of the tenant or consented to by any user in the tenant. "
            "You may have sent your authentication request to the wrong tenant.",
        )
    secret = form.get("client_secret") if "client_secret" in form else (basic[1] if basic else None)
    if grant == "client_credentials":
        return _client_credentials(request, state, app, form, secret)
    if grant == "authorization_code":
        return authorization_code(request, state, app, form, secret)
    return _password(request, state, app, form, secret)


def _refused_assertion(
    request: web.Request, app: Application, form: dict[str, str]
) -> web.Response | None:
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        return oauth_error(
            request,
            400,
            "invalid_request",
            50012,
            f"client_assertion_type must be '{ASSERTION_TYPE}'.",
        )
    tenant = request.match_info["tenant"]
    state = request.app[STATE_KEY]
    audiences = [
        f"{base_url(request)}/{name}/oauth2/v2.0/token" for name in {tenant, state.tenant_id}
    ]
    try:
        verify_client_assertion(app, form["client_assertion"], audiences)
    except AssertionRefused as exc:
        return oauth_error(request, 401, "invalid_client", exc.aadsts, exc.description)
    return None


def _client_credentials(
    request: web.Request,
    state: TenantState,
    app: Application,
    form: dict[str, str],
    secret: str | None,
) -> web.Response:
    if secret is None:
        if "client_assertion" in form:
            refused = _refused_assertion(request, app, form)
            if refused is not None:
                return refused
            return _app_token(request, state, app, form)
        return oauth_error(
            request,
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the "
            "'client_credentials' grant type.",
        )
    refused = refused_secret(request, state, app, secret)
    if refused is not None:
        return refused
    return _app_token(request, state, app, form)


def _app_token(
    request: web.Request, state: TenantState, app: Application, form: dict[str, str]
) -> web.Response:
    scope = form.get("scope", "").strip()
    if not scope:
        return missing_parameter(request, "scope")
    scopes = scope.split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        return oauth_error(
            request,
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must "
            "have a scope value with /.default suffixed to the resource identifier "
            "(application ID URI).",
        )
    access_token = request.app[TOKENS_KEY].app_token(
        issuer=issuer(request, state.tenant_id),
        tenant_id=state.tenant_id,
        client_id=app.app_id,
        app_object_id=app.service_principal_id,
        roles=state.roles_of(app),
        lifetime=state.token_lifetime,
    )
    return web.json_response(token_body(access_token, lifetime=state.token_lifetime))


_SIGN_IN_ERRORS: dict[SignIn, tuple[int, str]] = {
    SignIn.WRONG_PASSWORD: (
        50126,
        "Error validating credentials due to invalid username or password.",
    ),
    SignIn.DISABLED: (50057, "The user account is disabled."),
    SignIn.PASSWORD_EXPIRED: (50055, "The password is expired."),
}


def _password(
    request: web.Request,
    state: TenantState,
    app: Application,
    form: dict[str, str],
    secret: str | None,
) -> web.Response:
    refused = refused_user_grant(
        request, state, app, form, secret, ("username", "password", "scope")
    )
    if refused is not None:
        return refused
    outcome, user = state.sign_in(form["username"], form["password"])
    if outcome is SignIn.UNKNOWN_USER or user is None:
        return oauth_error(
            request,
            400,
            "invalid_grant",
            50034,
            f"The user account {{EUII Hidden}} does not exist in the {state.tenant_id} "
            "directory. To sign into this application, the account must be added to the "
            "directory.",
        )
    if outcome is not SignIn.OK:
        code, description = _SIGN_IN_ERRORS[outcome]
        return oauth_error(request, 400, "invalid_grant", code, description)
    scopes = form["scope"].split()
    token_issuer = issuer(request, state.tenant_id)
    tokens = request.app[TOKENS_KEY]
    access_token = tokens.user_token(
        issuer=token_issuer,
        tenant_id=state.tenant_id,
        client_id=app.app_id,
        user_id=user.id,
        upn=user.user_principal_name,
        name=user.display_name,
        scp=delegated_scp(scopes),
    )
    extra = {"scope": " ".join(scopes)}
    if "openid" in scopes:
        extra["id_token"] = tokens.id_token(
            issuer=token_issuer,
            tenant_id=state.tenant_id,
            client_id=app.app_id,
            user_id=user.id,
            upn=user.user_principal_name,
            name=user.display_name,
            groups=request.app[SIGN_IN_KEY].groups_of(user.id),
        )
    if form.get("client_info") == "1":
        extra["client_info"] = client_info(user.id, state.tenant_id)
    return web.json_response(token_body(access_token, extra))


def add_login_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/common/userrealm/{username}", user_realm)
    router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    router.add_get("/{tenant}/discovery/v2.0/keys", signing_keys)
    router.add_get("/{tenant}/oauth2/v2.0/authorize", authorize)
    router.add_post("/{tenant}/oauth2/v2.0/token", token)
