"""Access and ID tokens: RS256 JWTs signed with a key generated per emulator instance."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

__all__ = [
    "GRAPH_AUDIENCE",
    "GRAPH_AUDIENCES",
    "TOKEN_LIFETIME",
    "InvalidTokenError",
    "TokenIssuer",
    "client_info",
]

GRAPH_AUDIENCE = "https://graph.microsoft.com"
# Graph accepts its application id URI and its well-known application id as audience.
GRAPH_AUDIENCES = (GRAPH_AUDIENCE, "00000003-0000-0000-c000-000000000000")
TOKEN_LIFETIME = 3599  # seconds, the `expires_in` Entra usually answers with


class InvalidTokenError(Exception):
    """A bearer token the emulator's Graph does not accept; the message says why."""


def client_info(user_id: str, tenant_id: str) -> str:
    """The `client_info` msal asks for: base64url JSON of the user's home ids."""
    raw = json.dumps({"uid": user_id, "utid": tenant_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Verified tokens remembered at once; a client holds one or two, tests a few dozen.
_VERIFIED_CACHE_SIZE = 1024


class TokenIssuer:
    """Signs and verifies the emulator's tokens; its public key is served as a JWKS.

    A token's signature is checked once and its claims remembered: a client sends the same
    token on every Graph call for an hour, and the RSA check and JWT parsing were a third
    of the emulator's CPU per call. Expiry is still judged on every call.
    """

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_urlsafe(12)
        self._verified: dict[str, dict[str, Any]] = {}

    def jwks(self) -> dict[str, Any]:
        jwk = dict(RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def app_token(
        self,
        *,
        issuer: str,
        tenant_id: str,
        client_id: str,
        app_object_id: str,
        roles: list[str],
        lifetime: int = TOKEN_LIFETIME,
    ) -> str:
        """An app-only Graph token; `roles` is left out entirely when empty, as Entra does."""
        claims: dict[str, Any] = {
            **self._common(issuer, tenant_id, client_id, lifetime),
            "oid": app_object_id,
            "sub": app_object_id,
            "idtyp": "app",
        }
        if roles:
            claims["roles"] = list(roles)
        return self._sign(claims)

    def user_token(
        self,
        *,
        issuer: str,
        tenant_id: str,
        client_id: str,
        user_id: str,
        upn: str,
        name: str,
        scp: str,
        lifetime: int = TOKEN_LIFETIME,
    ) -> str:
        """A delegated Graph token for a user (password grant): `scp`, no `roles`."""
        claims: dict[str, Any] = {
            **self._common(issuer, tenant_id, client_id, lifetime),
            "oid": user_id,
            "sub": user_id,
            "idtyp": "user",
            "scp": scp,
            "upn": upn,
            "unique_name": upn,
            "name": name,
        }
        return self._sign(claims)

    def id_token(
        self,
        *,
        issuer: str,
        tenant_id: str,
        client_id: str,
        user_id: str,
        upn: str,
        name: str,
        nonce: str = "",
        groups: list[str] | None = None,
    ) -> str:
        """An ID token; `nonce` as the sign-in asked, `groups` (object ids) when in any."""
        now = int(time.time())
        extra: dict[str, Any] = {"nonce": nonce} if nonce else {}
        if groups:
            extra["groups"] = list(groups)
        return self._sign(
            {
                **extra,
                "aud": client_id,
                "iss": issuer,
                "iat": now,
                "nbf": now,
                "exp": now + TOKEN_LIFETIME,
                "tid": tenant_id,
                "oid": user_id,
                "sub": user_id,
                "preferred_username": upn,
                "name": name,
                "ver": "2.0",
            }
        )

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a Graph token this issuer signed; raises InvalidTokenError."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify_signed(token)
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
        now = time.time()
        if now >= claims["exp"]:
            self._verified.pop(token, None)
            raise InvalidTokenError("expired")
        if now < claims["nbf"]:
            raise InvalidTokenError("ImmatureSignatureError")
        return dict(claims)

    def _verify_signed(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key.public_key(),
                algorithms=["RS256"],
                audience=list(GRAPH_AUDIENCES),
                options={"require": ["exp", "iat", "nbf", "aud", "tid"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("expired") from None
        except jwt.InvalidAudienceError:
            raise InvalidTokenError("invalid audience") from None
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(type(exc).__name__) from None
        return claims

    def _common(self, issuer: str, tenant_id: str, client_id: str, lifetime: int) -> dict[str, Any]:
        now = int(time.time())
        return {
            "aud": GRAPH_AUDIENCE,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "tid": tenant_id,
            "appid": client_id,
            "azp": client_id,
            "appidacr": "1",
            "uti": uuid.uuid4().hex,
            "ver": "1.0",
        }

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})
