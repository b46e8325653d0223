"""The `config` path: the provider (discovery URL, client id and secret) and a default role."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

from mount.auth.jwt.models import Config
from mount.auth.jwt.provider import ProviderError, fetch_provider, static_keys
from mount.sdk import (
    Field,
    FieldData,
    FieldType,
    InvalidRequestError,
    NotFoundError,
    Operation,
    Path,
    Request,
    Response,
)

if TYPE_CHECKING:
    from mount.auth.jwt.backend import JWTBackend

__all__ = ["paths"]

logger = logging.getLogger(__name__)

_STRINGS = (
    "oidc_discovery_url",
    "oidc_discovery_ca_pem",
    "oidc_client_id",
    "oidc_client_secret",
    "oidc_response_mode",
    "jwks_url",
    "jwks_ca_pem",
    "bound_issuer",
    "default_role",
)
_LISTS = ("oidc_response_types", "jwt_validation_pubkeys", "jwt_supported_algs")

FIELDS: dict[str, Field] = {
    "oidc_discovery_url": Field(
        FieldType.STRING,
        "The provider's issuer URL; /.well-known/openid-configuration is read under it. For "
        "Entra ID: https://login.microsoftonline.com/<tenant id>/v2.0",
    ),
    "oidc_discovery_ca_pem": Field(
        FieldType.STRING, "PEM CA certificates to trust for the discovery URL; empty: system CAs."
    ),
    "oidc_client_id": Field(
        FieldType.STRING, "The application (client) id of the app registration."
    ),
    "oidc_client_secret": Field(
        FieldType.STRING, "The app registration's client secret; never read back.", sensitive=True
    ),
    "oidc_response_mode": Field(FieldType.STRING, "query (default) or form_post."),
    "oidc_response_types": Field(FieldType.STRING_LIST, "code (the only one supported)."),
    "jwks_url": Field(FieldType.STRING, "A JWKS URL to verify JWTs with, instead of discovery."),
    "jwks_ca_pem": Field(FieldType.STRING, "PEM CA certificates to trust for jwks_url."),
    "jwt_validation_pubkeys": Field(
        FieldType.STRING_LIST, "PEM public keys to verify JWTs with, instead of discovery."
    ),
    "jwt_supported_algs": Field(
        FieldType.STRING_LIST, "Signing algorithms accepted; default RS256."
    ),
    "bound_issuer": Field(
        FieldType.STRING, "The iss a JWT must carry; default the discovered one."
    ),
    "default_role": Field(FieldType.STRING, "The role used when a login names none."),
    "provider_config": Field(FieldType.MAP, "Provider-specific settings; none are used here."),
    "namespace_in_state": Field(FieldType.BOOL, "Accepted for Vault compatibility; no effect."),
}


def paths(b: JWTBackend) -> list[Path]:
    write = partial(config_write, b)
    return [
        Path(
            "config",
            {
                Operation.READ: partial(config_read, b),
                Operation.UPDATE: write,
                Operation.CREATE: write,
            },
            FIELDS,
            help_synopsis="Configure the OIDC provider or the JWT signing keys.",
            help_description=CONFIG_HELP,
        )
    ]


async def config_read(b: JWTBackend, req: Request, d: FieldData) -> Response:
    config = await b.load_config(req.storage)
    if config is None:
        raise NotFoundError()
    return Response(data=config.read_data())


async def config_write(b: JWTBackend, req: Request, d: FieldData) -> None:
    async with b.lock:
        # As Vault: a write replaces the whole config; a field not sent takes its default.
        values = Config().to_storage()
        for name in _STRINGS:
            if d.provided(name):
                values[name] = str(d.get(name)).strip()
        for name in _LISTS:
            if d.provided(name):
                values[name] = [str(v).strip() for v in d.get(name) if str(v).strip()]
        config = Config.from_storage(values)
        sources = [
            n for n in ("oidc_discovery_url", "jwks_url", "jwt_validation_pubkeys") if values[n]
        ]
        if len(sources) != 1:
            raise InvalidRequestError(
                "exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' "
                "must be set"
            )
        if bool(config.oidc_client_id) != bool(config.oidc_client_secret):
            raise InvalidRequestError(
                "both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC"
            )
        if config.oidc_response_mode not in ("", "query", "form_post"):
            raise InvalidRequestError("invalid response_mode; use query or form_post")
        if set(config.oidc_response_types) - {"code"}:
            raise InvalidRequestError("invalid response_types; only code is supported")
        provider = None
        try:
            if config.jwt_validation_pubkeys:
                static_keys(config.jwt_validation_pubkeys)
            else:
                provider = await fetch_provider(config)
        except ProviderError as exc:
            what = "oidc discovery URL" if config.oidc_discovery_url else "jwks_url"
            raise InvalidRequestError(f"error checking {what}: {exc}") from None
        await b.save_config(req.storage, config, provider)
    logger.info("jwt config written mount=%s", req.mount_point)


CONFIG_HELP = """\
Set exactly one source of signing keys: oidc_discovery_url (with oidc_client_id and
oidc_client_secret for the browser sign-in), jwks_url, or jwt_validation_pubkeys. A
write fetches the discovery document and keys (10 s timeout, oidc_discovery_ca_pem
honoured) and is refused with the reason if they cannot be fetched. The client secret is
never returned by a read."""
