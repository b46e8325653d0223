"""The identity provider over HTTP: discovery, its signing keys, the code exchange, and
checking a token's signature and times. Every call has a timeout; none blocks the loop."""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from mount.auth.jwt.models import Config

__all__ = ["HTTP_TIMEOUT", "Provider", "ProviderError", "fetch_provider", "verify_signature"]

HTTP_TIMEOUT = 10.0
# Signing keys are fetched again after this long, or at once for an unknown key id.
KEYS_MAX_AGE = 300.0
DEFAULT_ALGS = ("RS256",)


class ProviderError(Exception):
    """The provider could not be reached or answered something unusable; says which."""


@dataclass(frozen=True, slots=True)
class Provider:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    keys: tuple[jwt.PyJWK, ...]
    fetched: float


def _verify(ca_pem: str) -> ssl.SSLContext | bool:
    if not ca_pem.strip():
        return True
    try:
        return ssl.create_default_context(cadata=ca_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ProviderError(f"the CA PEM could not be parsed: {exc}") from None


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await client.get(url)
    except httpx.HTTPError as exc:
        raise ProviderError(f"Get {url!r}: {type(exc).__name__}: {exc}") from None
    if response.status_code != 200:
        raise ProviderError(f"{url} answered {response.status_code}")
    try:
        body = response.json()
    except json.JSONDecodeError:
        raise ProviderError(f"{url} did not answer JSON") from None
    if not isinstance(body, dict):
        raise ProviderError(f"{url} did not answer a JSON object")
    return body


def _keys(jwks: dict[str, Any]) -> tuple[jwt.PyJWK, ...]:
    keys: list[jwt.PyJWK] = []
    for raw in jwks.get("keys") or []:
        try:
            keys.append(jwt.PyJWK(raw))
        except jwt.PyJWTError:
            continue  # a key of a type we cannot use: skipped, as go-jose does
    return tuple(keys)


async def fetch_provider(config: Config) -> Provider:
    """Discovery (or the JWKS URL) and the signing keys, checked as Vault's config write."""
    if config.oidc_discovery_url:
        verify = _verify(config.oidc_discovery_ca_pem)
        base = config.oidc_discovery_url.rstrip("/")
        async with httpx.AsyncClient(verify=verify, timeout=HTTP_TIMEOUT) as client:
            doc = await _get_json(client, f"{base}/.well-known/openid-configuration")
            issuer = str(doc.get("issuer") or "")
            if issuer.rstrip("/") != base:
                raise ProviderError(
                    f"oidc: issuer did not match the issuer returned by provider, expected "
                    f'"{config.oidc_discovery_url}" got "{issuer}"'
                )
            jwks_uri = str(doc.get("jwks_uri") or "")
            if not jwks_uri:
                raise ProviderError("the discovery document has no jwks_uri")
            keys = _keys(await _get_json(client, jwks_uri))
        return Provider(
            issuer=issuer,
            authorization_endpoint=str(doc.get("authorization_endpoint") or ""),
            token_endpoint=str(doc.get("token_endpoint") or ""),
            jwks_uri=jwks_uri,
            keys=keys,
            fetched=time.monotonic(),
        )
    verify = _verify(config.jwks_ca_pem)
    async with httpx.AsyncClient(verify=verify, timeout=HTTP_TIMEOUT) as client:
        keys = _keys(await _get_json(client, config.jwks_url))
    return Provider(config.bound_issuer, "", "", config.jwks_url, keys, time.monotonic())


def static_keys(pems: tuple[str, ...]) -> tuple[Any, ...]:
    """jwt_validation_pubkeys: PEM public keys, parsed (raises ProviderError)."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    out: list[Any] = []
    for pem in pems:
        try:
            out.append(load_pem_public_key(pem.encode()))
        except ValueError:
            raise ProviderError("error parsing public key: not a PEM public key") from None
    return tuple(out)


def verify_signature(
    token: str, keys: tuple[Any, ...], algs: tuple[str, ...], leeway: int
) -> dict[str, Any]:
    """The token's claims if one of `keys` signed it and exp/nbf/iat hold (with leeway).

    Audience and issuer are the caller's checks (they depend on the role).
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise ProviderError("error parsing token: not a JWT") from None
    kid = header.get("kid")
    candidates = [
        k.key if isinstance(k, jwt.PyJWK) else k
        for k in keys
        if not isinstance(k, jwt.PyJWK) or kid is None or k.key_id in (None, kid)
    ]
    if not candidates:
        raise ProviderError("failed to verify id token signature: no key matches its kid")
    last: Exception | None = None
    for key in candidates:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(algs or DEFAULT_ALGS),
                leeway=leeway,
                options={"verify_aud": False, "verify_iss": False, "require": ["exp"]},
            )
        except jwt.InvalidSignatureError as exc:
            last = exc
            continue
        except jwt.ExpiredSignatureError:
            raise ProviderError("token is expired") from None
        except jwt.ImmatureSignatureError:
            raise ProviderError("token not valid yet (nbf or iat in the future)") from None
        except jwt.PyJWTError as exc:
            raise ProviderError(f"error validating token: {exc}") from None
        return claims
    raise ProviderError(f"failed to verify id token signature ({last})")


def unknown_kid(token: str, provider: Provider) -> bool:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        return False
    return kid is not None and all(k.key_id != kid for k in provider.keys)


async def exchange_code(
    config: Config, provider: Provider, code: str, redirect_uri: str, verifier: str
) -> str:
    """The id token for an authorization code (client secret + PKCE verifier)."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "client_id": config.oidc_client_id,
        "client_secret": config.oidc_client_secret,
        "code_verifier": verifier,
    }
    verify = _verify(config.oidc_discovery_ca_pem)
    async with httpx.AsyncClient(verify=verify, timeout=HTTP_TIMEOUT) as client:
        try:
            response = await client.post(provider.token_endpoint, data=form)
        except httpx.HTTPError as exc:
            raise ProviderError(f"the token endpoint could not be reached: {exc}") from None
    try:
        body = response.json()
    except json.JSONDecodeError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error", "") if isinstance(body, dict) else ""
        raise ProviderError(
            f"the token endpoint refused the code ({response.status_code} {error})".strip()
        )
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise ProviderError("No id_token found in response.")
    return id_token
