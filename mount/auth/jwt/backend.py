"""JWTBackend: joins the jwt/oidc path table; owns the config, roles, provider cache and
the pending OIDC sign-ins (in memory, as Vault keeps them: 10 minutes, single use)."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

from mount.auth.jwt import path_config, path_login, path_oidc, path_role
from mount.auth.jwt.models import CONFIG_KEY, ROLE_PREFIX, Config, Role
from mount.auth.jwt.provider import (
    KEYS_MAX_AGE,
    Provider,
    ProviderError,
    fetch_provider,
    static_keys,
    unknown_kid,
    verify_signature,
)
from mount.sdk import (
    Backend,
    BackendConfig,
    BackendFactory,
    InvalidRequestError,
    LoginSpec,
    Request,
    Storage,
)
from mount.sdk.framework import SpecialPaths

__all__ = ["STATE_LIFETIME", "JWTBackend", "PendingSignIn", "factory"]

STATE_LIFETIME = 600.0  # seconds an auth_url's state may be used (Vault's oidcRequestTimeout)
_MAX_PENDING = 10_000


async def factory(conf: BackendConfig) -> Backend:
    return JWTBackend(conf)


_FACTORY: BackendFactory = factory


@dataclass(frozen=True, slots=True)
class PendingSignIn:
    """One auth_url awaiting its callback: what the callback must match and send."""

    role: str
    redirect_uri: str
    nonce: str
    code_verifier: str
    client_nonce: str
    expires: float


class JWTBackend(Backend):
    def __init__(self, conf: BackendConfig) -> None:
        self.conf = conf
        self.lock = asyncio.Lock()
        self._provider: Provider | None = None
        self._pending: dict[str, PendingSignIn] = {}
        super().__init__(
            paths=[
                *path_config.paths(self),
                *path_role.paths(self),
                *path_login.paths(self),
                *path_oidc.paths(self),
            ],
            help_text=BACKEND_HELP,
            type_name="jwt",
            case_insensitive=("name",),
            special_paths=SpecialPaths(unauthenticated=("login", "oidc/auth_url", "oidc/callback")),
        )

    # -- records ----------------------------------------------------------------------

    async def load_config(self, storage: Storage) -> Config | None:
        raw = await storage.get(CONFIG_KEY)
        return None if raw is None else Config.from_storage(raw)

    async def save_config(
        self, storage: Storage, config: Config, provider: Provider | None
    ) -> None:
        await storage.put(CONFIG_KEY, config.to_storage())
        self._provider = provider

    async def load_role(self, storage: Storage, name: str) -> Role | None:
        if not name or "/" in name or ".." in name:
            return None
        raw = await storage.get(ROLE_PREFIX + name.lower())
        return None if raw is None else Role.from_storage(raw)

    # -- tokens -----------------------------------------------------------------------

    async def provider(self, config: Config, *, refresh: bool = False) -> Provider:
        cached = self._provider
        if refresh or cached is None or time.monotonic() - cached.fetched > KEYS_MAX_AGE:
            try:
                cached = await fetch_provider(config)
            except ProviderError as exc:
                raise InvalidRequestError(f"error fetching the provider's keys: {exc}") from None
            self._provider = cached
        return cached

    async def verified_claims(self, config: Config, token: str, role: Role) -> dict[str, Any]:
        """The token's claims once its signature and times hold; issuer from the config."""
        leeway = max(role.clock_skew_leeway, role.expiration_leeway, role.not_before_leeway)
        try:
            if config.jwt_validation_pubkeys:
                keys: tuple[Any, ...] = static_keys(config.jwt_validation_pubkeys)
            else:
                provider = await self.provider(config)
                if unknown_kid(token, provider):
                    provider = await self.provider(config, refresh=True)
                keys = provider.keys
            return verify_signature(token, keys, config.jwt_supported_algs, leeway)
        except ProviderError as exc:
            raise InvalidRequestError(f"error validating token: {exc}") from None

    def issuer(self, config: Config) -> str:
        if config.bound_issuer:
            return config.bound_issuer
        return self._provider.issuer if self._provider is not None else ""

    # -- pending OIDC sign-ins --------------------------------------------------------

    def new_state(self, pending: PendingSignIn) -> str:
        now = time.monotonic()
        self._pending = {k: v for k, v in self._pending.items() if v.expires > now}
        if len(self._pending) >= _MAX_PENDING:
            raise InvalidRequestError("too many sign-ins in progress; try again in a minute")
        state = "st_" + secrets.token_urlsafe(24)
        self._pending[state] = replace(pending, expires=now + STATE_LIFETIME)
        return state

    def take_state(self, state: str) -> PendingSignIn | None:
        """The sign-in a state names, once; None if unknown, used or expired."""
        pending = self._pending.pop(state, None)
        if pending is None or pending.expires <= time.monotonic():
            return None
        return pending

    async def renew_auth(self, request: Request, auth: LoginSpec) -> LoginSpec:
        return await path_login.renew(self, request, auth)


BACKEND_HELP = """\
The JWT/OIDC auth method signs users in with an OpenID Connect provider such as Entra ID:
`oidc/auth_url` and `oidc/callback` run the browser's authorization-code flow (with PKCE),
`login` accepts a JWT signed by the provider. Roles map the token's claims (groups, user)
to token policies."""
