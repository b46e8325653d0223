"""The login side: OpenID discovery, user realm, signing keys, authorize and the token endpoint."""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Any
from urllib.parse import unquote, urlencode

from aiohttp import web

from emulator.assertions import ASSERTION_TYPE, AssertionRefused, verify_client_assertion
from emulator.credentials import Application, SecretCheck
from emulator.keys import SIGN_IN_KEY, STATE_KEY, TOKENS_KEY
from emulator.responses import oauth_error
from emulator.sign_in import CODE_LIFETIME, AuthorizationCode, pkce_matches
from emulator.state import SignIn, TenantState
from emulator.tokens import TOKEN_LIFETIME, client_info

__all__ = ["add_login_routes", "base_url"]

_RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_DNS_NAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{1,63}")
_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})


def base_url(request: web.Request) -> str:
    """This server as the caller addressed it (the Host header), so any name or port works."""
    return f"https://{request.host}"


def _issuer(request: web.Request, tenant_id: str) -> str:
    return f"{base_url(request)}/{tenant_id}/v2.0"


def _unknown_tenant(request: web.Request, tenant: str, error: str) -> web.Response:
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


def _missing(request: web.Request, name: str) -> web.Response:
    return oauth_error(
        request,
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{name}'.",
    )


async def openid_configuration(request: web.Request) -> web.Response:
    """GET /{tenant}/v2.0/.well-known/openid-configuration, as msal reads it."""
    state = request.app[STATE_KEY]
    tenant = request.match_info["tenant"]
    if not state.knows_tenant(tenant):
        return _unknown_tenant(request, tenant, "invalid_tenant")
    base, tid = base_url(request), state.tenant_id
    return web.json_response(
        {
            "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": _issuer(request, tid),
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "tenant_region_scope": "WW",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": request.host,
        }
    )


async def user_realm(request: web.Request) -> web.Response:
    """GET /common/userrealm/{username}: every known domain is a managed (cloud) one."""
    state = request.app[STATE_KEY]
    username = request.match_info["username"]
    domain = username.rpartition("@")[2]
    body: dict[str, Any] = {
        "ver": "1.0",
        "account_type": "Managed" if domain and state.knows_tenant(domain) else "Unknown",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }
    if body["account_type"] == "Managed":
        body["domain_name"] = domain
    return web.json_response(body)


async def signing_keys(request: web.Request) -> web.Response:
    """GET /{tenant}/discovery/v2.0/keys: the JWKS that verifies this emulator's tokens."""
    tenant = request.match_info["tenant"]
    if tenant.lower() not in _MULTI_TENANT and not request.app[STATE_KEY].knows_tenant(tenant):
        return _unknown_tenant(request, tenant, "invalid_tenant")
    return web.json_response(request.app[TOKENS_KEY].jwks())


async def authorize(request: web.Request) -> web.Response:
    """GET /{tenant}/oauth2/v2.0/authorize: the authorization-code flow, without a browser.

    The user named by `login_hint`, else the one set with PUT /_emulator/signed-in, is
    signed in at once; the answer is a redirect to redirect_uri with a one-use code.
    """
    state = request.app[STATE_KEY]
    tenant = request.match_info["tenant"]
    if not state.knows_tenant(tenant):
        return _unknown_tenant(request, tenant, "invalid_request")
    q = request.query
    for name in ("client_id", "redirect_uri", "response_type"):
        if not q.get(name):
            return _missing(request, name)
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
        return _redirect_error(
            request,
            redirect_uri,
            "unsupported_response_type",
            "Only response_type=code is supported by the emulator.",
        )
    method = q.get("code_challenge_method", "plain" if q.get("code_challenge") else "")
    if method not in ("", "plain", "S256"):
        return _redirect_error(
            request, redirect_uri, "invalid_request", "code_challenge_method must be S256 or plain."
        )
    book = request.app[SIGN_IN_KEY]
    hint = q.get("login_hint", "")
    user = state.find_user(hint or book.signed_in or "") if hint or book.signed_in else None
    if user is None or not user.account_enabled:
        return oauth_error(
            request,
            400,
            "interaction_required",
            50058,
            "No user is signed in to the Entra emulator: pass login_hint=<userPrincipalName> "
            'or PUT /_emulator/signed-in {"user": "<userPrincipalName>"} first.',
        )
    code = book.issue_code(
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


def _authorization_code(
    request: web.Request,
    state: TenantState,
    app: Application,
    form: dict[str, str],
    secret: str | None,
) -> web.Response:
    """grant_type=authorization_code: a code from authorize, its PKCE verifier, the client."""
    if secret is not None:
        refused = _refused_secret(request, state, app, secret)
        if refused is not None:
            return refused
    for name in ("code", "redirect_uri"):
        if not form.get(name):
            return _missing(request, name)
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
            return _missing(request, "code_verifier")
        if not pkce_matches(verifier, grant.code_challenge, grant.code_challenge_method):
            return oauth_error(
                request,
                400,
                "invalid_grant",
                501481,
                "The Code_Verifier does not match the code_challenge supplied in the "
                "authorization request.",
            )
    elif secret is None:
        return oauth_error(
            request,
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or "
            "'client_secret'.",
        )
    user = state.find_user(grant.user_id)
    if user is None or not user.account_enabled:
        return oauth_error(request, 400, "invalid_grant", 50057, "The user account is disabled.")
    issuer = _issuer(request, state.tenant_id)
    tokens = request.app[TOKENS_KEY]
    scopes = grant.scope.split()
    access_token = tokens.user_token(
        issuer=issuer,
        tenant_id=state.tenant_id,
        client_id=app.app_id,
        user_id=user.id,
        upn=user.user_principal_name,
        name=user.display_name,
        scp=_delegated_scp(scopes),
    )
    id_token = tokens.id_token(
        issuer=issuer,
        tenant_id=state.tenant_id,
        client_id=app.app_id,
        user_id=user.id,
        upn=user.user_principal_name,
        name=user.display_name,
        nonce=grant.nonce,
        groups=request.app[SIGN_IN_KEY].groups_of(user.id),
    )
    return web.json_response(
        _token_body(access_token, {"scope": grant.scope, "id_token": id_token})
    )


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
        return _unknown_tenant(request, tenant, "invalid_request")
    posted = await request.post()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    basic = _basic_credentials(request)
    if isinstance(basic, web.Response):
        return basic
    grant = form.get("grant_type", "")
    if not grant:
        return _missing(request, "grant_type")
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
        return _missing(request, "client_id")
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
        return _authorization_code(request, state, app, form, secret)
    return _password(request, state, app, form, secret)


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


def _refused_secret(
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


def _token_body(
    access_token: str, extra: dict[str, str] | None = None, *, lifetime: int = TOKEN_LIFETIME
) -> dict[str, Any]:
    return {
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
        **(extra or {}),
    }


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
    refused = _refused_secret(request, state, app, secret)
    if refused is not None:
        return refused
    return _app_token(request, state, app, form)


def _app_token(
    request: web.Request, state: TenantState, app: Application, form: dict[str, str]
) -> web.Response:
    scope = form.get("scope", "").strip()
    if not scope:
        return _missing(request, "scope")
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
        issuer=_issuer(request, state.tenant_id),
        tenant_id=state.tenant_id,
        client_id=app.app_id,
        app_object_id=app.service_principal_id,
        roles=state.roles_of(app),
        lifetime=state.token_lifetime,
    )
    return web.json_response(_token_body(access_token, lifetime=state.token_lifetime))


_SIGN_IN_ERRORS: dict[SignIn, tuple[int, str]] = {
    SignIn.WRONG_PASSWORD: (
        50126,
        "Error validating credentials due to invalid username or password.",
    ),
    SignIn.DISABLED: (50057, "The user account is disabled."),
    SignIn.PASSWORD_EXPIRED: (50055, "The password is expired."),
}


def _delegated_scp(scopes: list[str]) -> str:
    names: list[str] = []
    for scope in scopes:
        if scope in _RESERVED_SCOPES:
            continue
        name = scope.rsplit("/", 1)[-1]
        names.append("User.Read" if name == ".default" else name)
    return " ".join(dict.fromkeys(names)) or "User.Read"


def _password(
    request: web.Request,
    state: TenantState,
    app: Application,
    form: dict[str, str],
    secret: str | None,
) -> web.Response:
    if secret is not None:
        refused = _refused_secret(request, state, app, secret)
        if refused is not None:
            return refused
    for name in ("username", "password", "scope"):
        if not form.get(name):
            return _missing(request, name)
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
    issuer = _issuer(request, state.tenant_id)
    tokens = request.app[TOKENS_KEY]
    access_token = tokens.user_token(
        issuer=issuer,
        tenant_id=state.tenant_id,
        client_id=app.app_id,
        user_id=user.id,
        upn=user.user_principal_name,
        name=user.display_name,
        scp=_delegated_scp(scopes),
    )
    extra = {"scope": " ".join(scopes)}
    if "openid" in scopes:
        extra["id_token"] = tokens.id_token(
            issuer=issuer,
            tenant_id=state.tenant_id,
            client_id=app.app_id,
            user_id=user.id,
            upn=user.user_principal_name,
            name=user.display_name,
            groups=request.app[SIGN_IN_KEY].groups_of(user.id),
        )
    if form.get("client_info") == "1":
        extra["client_info"] = client_info(user.id, state.tenant_id)
    return web.json_response(_token_body(access_token, extra))


def add_login_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/common/userrealm/{username}", user_realm)
    router.add_get("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration)
    router.add_get("/{tenant}/discovery/v2.0/keys", signing_keys)
    router.add_get("/{tenant}/oauth2/v2.0/authorize", authorize)
    router.add_post("/{tenant}/oauth2/v2.0/token", token)
