"""App-only Graph tokens from msal, run in a worker thread so the event loop never blocks."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard
from urllib.parse import urlsplit

import jwt
import msal
import requests
from requests.adapters import HTTPAdapter

from mount.sdk import UpstreamError
from plugin.client_certificate import CertificateProblem, parse_client_certificate
from plugin.clouds import is_microsoft_login_host
from plugin.models import Config

__all__ = ["TokenError", "TokenProvider", "token_roles"]

logger = logging.getLogger(__name__)


class TokenError(UpstreamError):
    """Entra gave no token. `aadsts` is Entra's numeric error code ("" when none).

    Nothing was changed in the tenant when this is raised, so `may_have_applied` is False.
    """

    def __init__(self, message: str, *, aadsts: str = "", retryable: bool = False) -> None:
        super().__init__(message, retryable=retryable, may_have_applied=False)
        self.aadsts = aadsts


class _TLSAdapter(HTTPAdapter):
    """Verifies TLS with our own SSLContext (the configured CA bundle or the system store)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        pool_kwargs["ssl_context"] = self._context
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


class _Session(requests.Session):
    """The requests session msal talks through: our trust store and a timeout on every call.

    `trust_env` is off because requests otherwise lets REQUESTS_CA_BUNDLE (set on our
    machines) replace the CA bundle silently, and would route login through env proxies
    that Graph (httpx, also trust_env=False) does not use.
    """

    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__()
        self.trust_env = False
        self.mount("https://", _TLSAdapter(context))
        self._timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


# AADSTS codes that mean the configuration is wrong, as the operator-facing sentence.
# https://learn.microsoft.com/entra/identity-platform/reference-error-codes
def _aadsts_message(code: str, config: Config) -> str | None:
    client, tenant = config.client_id, config.tenant_id
    messages = {
        "7000215": f'Entra rejected the client secret for client_id "{client}" '
        "(AADSTS7000215); check client_secret",
        "7000222": f'the client secret for client_id "{client}" has expired (AADSTS7000222); '
        "create a new one and write it to client_secret",
        "700027": f'Entra refused the client certificate for client_id "{client}" '
        "(AADSTS700027): upload that certificate to the application's Certificates & "
        "secrets, or check client_certificate",
        "700024": f'Entra refused the client assertion of client_id "{client}" as outside its '
        "valid time range (AADSTS700024); check this host's clock",
        "700016": f'Entra found no application with client_id "{client}" in tenant '
        f'"{tenant}" (AADSTS700016); check client_id and tenant_id',
        "90002": f'Entra found no tenant "{tenant}" (AADSTS90002); check tenant_id',
        "900023": f'"{tenant}" is not a valid tenant id or domain (AADSTS900023); check tenant_id',
        "7000112": f'the application with client_id "{client}" is disabled (AADSTS7000112)',
        "500011": f'Entra knows no resource "{config.graph_url}" in tenant "{tenant}" '
        "(AADSTS500011); check graph_endpoint and environment",
    }
    return messages.get(code)


# msal renews an access token when less than this many seconds of it are left; the
# copy kept on the loop goes back to msal at the same point, so msal decides the renewal.
RENEW_BEFORE_EXPIRY = 300.0


@dataclass(frozen=True, slots=True)
class _HeldToken:
    """An access token msal gave us, and the monotonic time to go back to msal."""

    value: str = field(repr=False)
    fresh_until: float


class TokenProvider:
    """One msal ConfidentialClientApplication per config, built lazily in a worker thread.

    msal caches tokens in the app (renewing them 5 minutes before expiry); a lock makes
    concurrent callers wait for one acquisition instead of all calling the token endpoint.
    The token msal returned is also held here until msal would renew it, so a Graph call
    normally takes it without the lock or a thread hop (two of each per credential, all
    callers queued behind one lock, were the broker's largest serial cost).
    """

    def __init__(self, config: Config, context: ssl.SSLContext, *, timeout: float = 10.0) -> None:
        self._config = config
        self._session = _Session(context, timeout)
        self._timeout = timeout
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = asyncio.Lock()
        self._held: _HeldToken | None = None

    @property
    def scope(self) -> str:
        return f"{self._config.graph_url}/.default"

    async def token(self) -> str:
        """An access token for Graph; raises TokenError with a sentence for the operator."""
        held = self._fresh_token()
        if held is not None:
            return held
        async with self._lock:
            held = self._fresh_token()  # another caller may have renewed it while we waited
            if held is not None:
                return held
            asked = time.monotonic()
            value, keep_for = await asyncio.to_thread(self._acquire)
            self._held = _HeldToken(value, asked + keep_for) if keep_for > 0 else None
            return value

    def _fresh_token(self) -> str | None:
        """The held token while msal would still hand out the same one."""
        held = self._held
        if held is not None and time.monotonic() < held.fresh_until:
            return held.value
        return None

    async def invalidate(self) -> None:
        """Forget cached access tokens, so the next `token()` asks Entra for a new one."""
        self._held = None
        async with self._lock:
            self._held = None
            await asyncio.to_thread(self._forget)

    def close(self) -> None:
        self._session.close()

    # -- in the worker thread --------------------------------------------------------

    def _acquire(self) -> tuple[str, float]:
        """The access token, and for how many seconds it may be used without asking msal."""
        app = self._app or self._build()
        try:
            result = app.acquire_token_for_client(scopes=[self.scope])
        except Exception as exc:  # requests/msal errors become one sentence
            raise self._network_error(exc) from None
        return self._token_from(result)

    def _build(self) -> msal.ConfidentialClientApplication:
        config = self._config
        # A custom login host (the emulator, a proxy) is unknown to Microsoft's instance
        # discovery, which would fail; Microsoft's own hosts never need it either.
        discovery = not config.authority_host and is_microsoft_login_host(config.login_url)
        credential: str | dict[str, str] = config.client_secret
        if config.client_certificate:
            try:
                credential = parse_client_certificate(config.client_certificate).msal_credential()
            except CertificateProblem as exc:  # checked at config write; storage was edited
                raise TokenError(str(exc)) from None
        try:
            app = msal.ConfidentialClientApplication(
                config.client_id,
                client_credential=credential,
                authority=f"{config.login_url}/{config.tenant_id}",
                http_client=self._session,
                instance_discovery=None if discovery else False,
            )
        except ValueError:
            # msal raises ValueError when the tenant's OpenID configuration is missing.
            raise TokenError(
                f'could not read the OpenID configuration of tenant "{config.tenant_id}" '
                f"at {config.login_url}; check tenant_id and authority_host"
            ) from None
        except Exception as exc:  # requests errors become one sentence
            raise self._network_error(exc) from None
        self._app = app
        logger.debug(
            "msal app built client_id=%s tenant_id=%s authority=%s",
            config.client_id,
            config.tenant_id,
            config.login_url,
        )
        return app

    def _forget(self) -> None:
        if self._app is None:
            return
        cache = self._app.token_cache
        # list(): removing while iterating the live search raises "dictionary changed size".
        for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(entry)

    def _token_from(self, result: Mapping[str, Any] | None) -> tuple[str, float]:
        """The access token of an msal result and how long to hold it (0: do not), else
        TokenError; the dict is never logged."""
        if result and isinstance(result.get("access_token"), str):
            logger.debug(
                "token acquired client_id=%s source=%s",
                self._config.client_id,
                result.get("token_source", ""),
            )
            return str(result["access_token"]), _hold_seconds(result)
        result = result or {}
        error = str(result.get("error") or "unknown_error")
        codes = result.get("error_codes") or []
        code = str(codes[0]) if isinstance(codes, list) and codes else ""
        message = _aadsts_message(code, self._config)
        if message is None:
            shown = f"{error}, AADSTS{code}" if code else error
            message = (
                f'Entra refused a token to client_id "{self._config.client_id}" in tenant '
                f'"{self._config.tenant_id}" ({shown})'
            )
            if error == "invalid_client":
                used = "client_certificate" if self._config.client_certificate else "client_secret"
                message += f"; check client_id and {used}"
        logger.debug(
            "token refused client_id=%s error=%s aadsts=%s", self._config.client_id, error, code
        )
        retryable = error in ("temporarily_unavailable", "server_error")
        raise TokenError(message, aadsts=code, retryable=retryable)

    def _network_error(self, exc: BaseException) -> TokenError:
        host = urlsplit(self._config.login_url).netloc
        logger.debug("token request failed host=%s error=%s", host, type(exc).__name__)
        if isinstance(exc, requests.exceptions.SSLError):
            return TokenError(
                f"the TLS certificate of {host} is not trusted; set ca_cert to the CA "
                "bundle that signed it (PEM)"
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return TokenError(
                f"{host} did not answer a token request within {self._timeout:g}s",
                retryable=True,
            )
        if isinstance(exc, msal.exceptions.MsalServiceError):
            # msal raises it for a 5xx (or a replay of one) from the token endpoint.
            return TokenError(
                f"the token endpoint at {host} answered with a server error; try again later",
                retryable=True,
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            return TokenError(
                f"cannot connect to {self._config.login_url} to get a token; check "
                "authority_host, environment and the network",
                retryable=True,
            )
        return TokenError(
            f"getting a token from {host} failed ({type(exc).__name__})", retryable=True
        )


def _hold_seconds(result: Mapping[str, Any]) -> float:
    """Seconds a token may be used before msal would renew it: `expires_in` (seconds left,
    for a cached token too) less msal's renewal margin, or until `refresh_on` (the epoch
    time msal renews a long-lived token early) if that is sooner. 0 when neither is given.
    """
    expires_in, refresh_on = result.get("expires_in"), result.get("refresh_on")
    if not _is_number(expires_in):
        return 0.0
    hold = float(expires_in) - RENEW_BEFORE_EXPIRY
    if _is_number(refresh_on):
        hold = min(hold, float(refresh_on) - time.time())
    return max(0.0, hold)


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def token_roles(token: str) -> list[str] | None:
    """The app permissions in a token's `roles` claim, for diagnostics only.

    The token is decoded without verification: Microsoft treats access tokens as opaque
    and only Graph verifies them. None when the token is not a readable JWT.
    """
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    roles = claims.get("roles")
    if not isinstance(roles, list):
        return []
    return [str(r) for r in roles]
