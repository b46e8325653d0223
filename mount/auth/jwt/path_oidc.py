"""`oidc/auth_url` and `oidc/callback`: the browser's authorization-code flow with PKCE."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from mount.auth.jwt.path_login import check, login_spec, role_for
from mount.auth.jwt.provider import ProviderError, exchange_code
from mount.sdk import (
    Field,
    FieldData,
    FieldType,
    InvalidRequestError,
    Operation,
    Path,
    Request,
    Response,
)

if TYPE_CHECKING:
    from mount.auth.jwt.backend import JWTBackend

__all__ = ["paths"]

logger = logging.getLogger(__name__)

# The prefixes the CLI's and UIs' error pages look for (OpenBao's path_oidc.go).
LOGIN_FAILED = "OpenBao login failed."
TOKEN_VERIFICATION = "Token verification failed."
EXPIRED_STATE = f"{LOGIN_FAILED} Expired or missing OAuth state."


def paths(b: JWTBackend) -> list[Path]:
    callback = partial(oidc_callback, b)
    return [
        Path(
            "oidc/auth_url",
            {Operation.UPDATE: partial(auth_url, b)},
            {
                "role": Field(FieldType.STRING, "The role; default the default_role."),
                "redirect_uri": Field(
                    FieldType.STRING, "Where the provider sends the browser back; must be allowed."
                ),
                "client_nonce": Field(
                    FieldType.STRING, "A value the callback must repeat (the CLI sends one)."
                ),
            },
            help_synopsis="Start a browser sign-in: returns the provider's authorization URL.",
            help_description=AUTH_URL_HELP,
        ),
        Path(
            "oidc/callback",
            {Operation.READ: callback, Operation.UPDATE: callback},
            {
                "state": Field(FieldType.STRING, "The state auth_url issued."),
                "code": Field(
                    FieldType.STRING, "The provider's authorization code.", sensitive=True
                ),
                "id_token": Field(
                    FieldType.STRING, "Unused (form_post id tokens).", sensitive=True
                ),
                "client_nonce": Field(FieldType.STRING, "The client_nonce given to auth_url."),
                "error": Field(FieldType.STRING, "An error the provider returned."),
                "error_description": Field(FieldType.STRING, "The provider's error description."),
            },
            help_synopsis="Finish a browser sign-in: exchanges the code, returns a token.",
            help_description=CALLBACK_HELP,
        ),
    ]


_OAUTH_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "access_denied",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
    }
)


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


async def auth_url(b: JWTBackend, req: Request, d: FieldData) -> Response:
    from mount.auth.jwt.backend import PendingSignIn

    config = await b.load_config(req.storage)
    if config is None:
        raise InvalidRequestError("could not load configuration")
    if not config.oidc_discovery_url or not config.oidc_client_id:
        raise InvalidRequestError(
            "OIDC login is not configured for this mount: set oidc_discovery_url, "
            "oidc_client_id and oidc_client_secret in config"
        )
    role = await role_for(b, req, config, str(d.get("role") or ""))
    if role.role_type != "oidc":
        raise InvalidRequestError(f'role "{role.name}" is a jwt role; use login with a JWT')
    redirect_uri = str(d.get("redirect_uri") or "").strip()
    if not redirect_uri:
        raise InvalidRequestError("missing redirect_uri")
    if redirect_uri not in role.allowed_redirect_uris:
        # As Vault: this path is unauthenticated, so the answer is an empty auth_url; the
        # warning names what to fix without showing the role's allowed list.
        logger.warning(
            "oidc unauthorized redirect_uri role=%s mount=%s", role.name, req.mount_point
        )
        return Response(
            data={"auth_url": ""},
            warnings=[
                f"redirect_uri {redirect_uri} is not in the role's allowed_redirect_uris; "
                "add it to the role"
            ],
        )
    provider = await b.provider(config)
    verifier = secrets.token_urlsafe(48)
    nonce = "n_" + secrets.token_urlsafe(24)
    state = b.new_state(
        PendingSignIn(
            role=role.name,
            redirect_uri=redirect_uri,
            nonce=nonce,
            code_verifier=verifier,
            client_nonce=str(d.get("client_nonce") or ""),
            expires=0.0,
        )
    )
    scopes = ["openid", *(s for s in role.oidc_scopes if s != "openid")]
    params = {
        "client_id": config.oidc_client_id,
        "code_challenge": _challenge(verifier),
        "code_challenge_method": "S256",
        "nonce": nonce,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(scopes),
        "state": state,
    }
    if config.oidc_response_mode:
        params["response_mode"] = config.oidc_response_mode
    if role.max_age:
        params["max_age"] = str(role.max_age)
    return Response(data={"auth_url": f"{provider.authorization_endpoint}?{urlencode(params)}"})


async def oidc_callback(b: JWTBackend, req: Request, d: FieldData) -> Response:
    pending = b.take_state(str(d.get("state") or ""))
    if pending is None:
        raise InvalidRequestError(EXPIRED_STATE)
    if pending.client_nonce and pending.client_nonce != str(d.get("client_nonce") or ""):
        raise InvalidRequestError("invalid client_nonce")
    error = str(d.get("error") or "").strip().lower()
    if error:
        # Only the RFC 6749 code is echoed: the description is the provider's free text.
        shown = error if error in _OAUTH_ERRORS else "an unknown error from the provider"
        raise InvalidRequestError(f"{LOGIN_FAILED} {shown}")
    code = str(d.get("code") or "")
    if not code:
        raise InvalidRequestError(f"{LOGIN_FAILED} No code or id_token received.")
    config = await b.load_config(req.storage)
    if config is None:
        raise InvalidRequestError(f"{LOGIN_FAILED} Could not load configuration")
    role = await b.load_role(req.storage, pending.role)
    if role is None:
        raise InvalidRequestError(f"{LOGIN_FAILED} Role could not be found")
    provider = await b.provider(config)
    try:
        id_token = await exchange_code(
            config, provider, code, pending.redirect_uri, pending.code_verifier
        )
    except ProviderError as exc:
        raise InvalidRequestError(f"{TOKEN_VERIFICATION} {exc}") from None
    claims = await b.verified_claims(config, id_token, role)
    if claims.get("nonce") != pending.nonce:
        raise InvalidRequestError(f"{TOKEN_VERIFICATION} invalid ID token nonce.")
    check(role, claims, issuer=b.issuer(config), client_id=config.oidc_client_id)
    spec = login_spec(role, claims)
    logger.info("oidc login role=%s mount=%s", role.name, req.mount_point)
    return Response(login=spec)


AUTH_URL_HELP = """\
Returns {"auth_url": ...}: the provider's authorization endpoint with client_id,
redirect_uri, scope (openid and the role's oidc_scopes), a state and nonce of ours, and a
PKCE code_challenge (S256). The redirect_uri must be one of the role's
allowed_redirect_uris. The state is good for one callback within 10 minutes."""
CALLBACK_HELP = """\
The provider's redirect lands here (GET, or POST for form_post) with state and code; the
code is exchanged at the token endpoint with the client secret and the PKCE verifier, the
id token's signature, nonce, issuer, audience and the role's bound claims are checked,
and the answer is a login (a token with the role's policies)."""
