"""The `config` path: how the engine reaches the tenant; validated by getting a token."""

from __future__ import annotations

import asyncio
import logging
import ssl
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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
from plugin.clouds import UnknownEnvironmentError, resolve_environment
from plugin.graph import tls_context
from plugin.models import CONFIG_KEY, Config
from plugin.token import TokenError, token_roles

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = ["config_delete", "config_exists", "config_read", "config_write", "paths"]

logger = logging.getLogger(__name__)

REQUIRED = ("tenant_id", "client_id", "client_secret")

# Application permissions (the token's `roles` claim) that allow each job.
RESET_PERMISSIONS = (
    "User-PasswordProfile.ReadWrite.All",
    "User.ReadWrite.All",
    "Directory.ReadWrite.All",
)
READ_PERMISSIONS = (
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)

FIELDS = {
    "tenant_id": Field(
        FieldType.STRING,
        "The directory (tenant) id of the Entra tenant, a GUID or a verified domain; required.",
    ),
    "client_id": Field(
        FieldType.STRING,
        "The application (client) id of the app registration the engine signs in as; required.",
    ),
    "client_secret": Field(
        FieldType.STRING,
        "A client secret of that application; required, and never returned by a read.",
        sensitive=True,
    ),
    "environment": Field(
        FieldType.STRING,
        "The Azure cloud: AzurePublicCloud, AzureUSGovernmentCloud or AzureChinaCloud "
        "(also public, usgovernment, china; any case); empty means AzurePublicCloud.",
    ),
    "authority_host": Field(
        FieldType.STRING,
        "The https login base URL, such as https://login.microsoftonline.com; empty uses "
        "the environment's login host.",
    ),
    "graph_endpoint": Field(
        FieldType.STRING,
        "The https Microsoft Graph base URL without /v1.0, such as https://graph.microsoft.com; "
        "empty uses the environment's Graph host.",
    ),
    "ca_cert": Field(
        FieldType.STRING,
        "PEM text of the CA bundle trusted for TLS to both the login and the Graph hosts; "
        "empty uses the system trust store.",
    ),
}


def paths(b: EntraBackend) -> list[Path]:
    write = partial(config_write, b)
    return [
        Path(
            "config",
            operations={
                Operation.READ: partial(config_read, b),
                Operation.CREATE: write,
                Operation.UPDATE: write,
                Operation.DELETE: partial(config_delete, b),
            },
            fields=FIELDS,
            existence_check=config_exists,
            help_synopsis=CONFIG_HELP_SYN,
            help_description=CONFIG_HELP_DESC,
        )
    ]


async def config_exists(req: Request, d: FieldData) -> bool:
    return await req.storage.get(CONFIG_KEY) is not None


async def config_read(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    config = await b.load_config(req.storage)
    if config is None:
        raise NotFoundError()
    return Response(
        data={
            "tenant_id": config.tenant_id,
            "client_id": config.client_id,
            "environment": config.environment,
            "authority_host": config.authority_host,
            "graph_endpoint": config.graph_endpoint,
            "ca_cert": config.ca_cert,
        }
    )


async def config_write(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    stored = await b.load_config(req.storage)
    values = stored.to_storage() if stored is not None else {name: "" for name in FIELDS}
    for name in FIELDS:
        if d.provided(name):
            value = str(d.get(name))
            # A secret is taken byte for byte; ids, names and URLs lose stray whitespace.
            values[name] = value if name == "client_secret" else value.strip()
    config = await _validated(values)
    clients = await b.build_clients(config)
    try:
        token = await clients.tokens.token()
    except TokenError as exc:
        await clients.aclose()
        logger.info(
            "config refused tenant_id=%s client_id=%s aadsts=%s",
            config.tenant_id,
            config.client_id,
            exc.aadsts,
        )
        raise InvalidRequestError(exc.message) from None
    warnings = permission_warnings(token)
    try:
        await req.storage.put(CONFIG_KEY, config.to_storage())
    except BaseException:
        await clients.aclose()
        raise
    await b.install_clients(clients)
    logger.info(
        "config written tenant_id=%s client_id=%s environment=%s",
        config.tenant_id,
        config.client_id,
        config.environment,
    )
    return Response(warnings=warnings) if warnings else None


async def config_delete(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    await req.storage.delete(CONFIG_KEY)
    await b.install_clients(None)
    logger.info("config deleted")
    return None


async def _validated(values: dict[str, str]) -> Config:
    """The merged config, or one 400 listing every problem with it."""
    problems = [f"{name} is required" for name in REQUIRED if not values.get(name)]
    try:
        values["environment"] = resolve_environment(values.get("environment", "")).name
    except UnknownEnvironmentError as exc:
        problems.append(str(exc))
    for name, example in (
        ("authority_host", "https://login.microsoftonline.com"),
        ("graph_endpoint", "https://graph.microsoft.com"),
    ):
        url = values.get(name, "").rstrip("/")
        values[name] = url
        try:
            parts = urlsplit(url)
            hostname = parts.hostname
        except ValueError:  # e.g. an unbalanced "[" of an IPv6 literal
            problems.append(f"{name} must be an https URL such as {example}")
            continue
        if url and (parts.scheme != "https" or not hostname or parts.query):
            problems.append(f"{name} must be an https URL such as {example}")
        elif name == "graph_endpoint" and parts.path.lower().endswith(("/v1.0", "/beta")):
            problems.append(f"{name} must not include the API version, such as {example}")
    if values.get("ca_cert"):
        try:
            await asyncio.to_thread(tls_context, values["ca_cert"])
        except (ssl.SSLError, ValueError):
            problems.append("ca_cert must be PEM text of one or more CA certificates")
    if problems:
        raise InvalidRequestError(errors=problems)
    return Config(**values)


def permission_warnings(token: str) -> list[str]:
    """Warnings for permissions the token's `roles` claim lacks (a diagnostic, not a check).

    The directory role (User Administrator) is not in app tokens, so it is not checked.
    """
    roles = token_roles(token)
    if roles is None:
        return [
            "could not read the application permissions from the access token (it is not "
            "a JWT); the configuration was saved without checking them"
        ]
    warnings = []
    if not any(p in roles for p in RESET_PERMISSIONS):
        warnings.append(
            "the application has no permission to reset passwords: grant it the "
            "User-PasswordProfile.ReadWrite.All or User.ReadWrite.All application permission "
            "with admin consent (it also needs the User Administrator directory role)"
        )
    if not any(p in roles for p in READ_PERMISSIONS):
        warnings.append(
            "the application has no permission to look users up: grant it the User.Read.All "
            "(or User.ReadWrite.All) application permission with admin consent"
        )
    return warnings


CONFIG_HELP_SYN = "Configure how the engine reaches the Entra tenant."
CONFIG_HELP_DESC = """\
The engine signs in to Entra ID as an application (client credentials) and calls
Microsoft Graph to look users up and reset their passwords. The application needs the
User-PasswordProfile.ReadWrite.All (or User.ReadWrite.All) and User.Read.All application
permissions with admin consent, and the User Administrator directory role (Privileged
Authentication Administrator to reset administrators' passwords). RoleManagement.Read.Directory
lets it tell which directory roles a user holds: without it, roles for users who hold any
directory role are refused (see allow_privileged_user on roles/<name>).

A write changes only the fields it names and is saved only if Entra issues a token with
the result; missing permissions are reported as warnings. Reads never return
client_secret. authority_host, graph_endpoint and ca_cert point the engine at another
login or Graph host, such as a proxy or the bundled emulator.
"""
