"""The `config` path: how the engine reaches the tenant; validated by getting a token."""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any
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
from plugin.client_certificate import CA_PROBLEM, CertificateProblem, parse_client_certificate
from plugin.clouds import UnknownEnvironmentError, resolve_environment
from plugin.graph import tls_context
from plugin.models import (
    CONFIG_KEY,
    DEFAULT_MAX_GRAPH_CALLS,
    DEFAULT_ROOT_PASSWORD_TTL,
    Config,
)
from plugin.token import TokenError, token_roles

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = ["config_delete", "config_exists", "config_read", "config_write", "paths"]

logger = logging.getLogger(__name__)

REQUIRED = ("tenant_id", "client_id")
# The engine signs in with exactly one of these.
CREDENTIALS = ("client_secret", "client_certificate")
# Fields taken as written; ids, names and URLs lose stray whitespace.
VERBATIM = frozenset({"client_secret", "client_certificate"})
# Entra refuses a client secret with an endDateTime beyond two years.
MAX_ROOT_PASSWORD_TTL = timedelta(days=730)
# A bound on max_graph_calls: far above what Graph lets one application do at once.
MAX_GRAPH_CALLS_LIMIT = 1000
# Fields that are not strings, each merged by _credential_changes/_limits.
TYPED = frozenset({"root_password_ttl", "max_graph_calls"})

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
        "A client secret of that application; this or client_certificate is required. "
        "Never returned by a read.",
        sensitive=True,
    ),
    "client_certificate": Field(
        FieldType.STRING,
        "PEM text of a certificate registered on that application followed by its "
        "unencrypted RSA private key; signs the engine in instead of client_secret. Never "
        "returned by a read (its thumbprint and expiration are).",
        sensitive=True,
    ),
    "root_password_ttl": Field(
        FieldType.DURATION,
        "How long a client secret made by rotate-root stays valid in Entra, at most 2 years; "
        "0 or unset means 182 days.",
    ),
    "max_graph_calls": Field(
        FieldType.INT,
        "How many Microsoft Graph calls the engine keeps in flight at once, 1 to 1000; "
        "more wait for a free one (503 after 10 s). 0 or unset means 32.",
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
    data: dict[str, Any] = {
        "tenant_id": config.tenant_id,
        "client_id": config.client_id,
        "environment": config.environment,
        "authority_host": config.authority_host,
        "graph_endpoint": config.graph_endpoint,
        "ca_cert": config.ca_cert,
        "root_password_ttl": int(config.root_password_ttl.total_seconds()),
        "max_graph_calls": config.max_graph_calls,
    }
    if config.client_certificate:
        # What identifies the certificate, never the key.
        certificate = await asyncio.to_thread(parse_client_certificate, config.client_certificate)
        data["client_certificate_thumbprint"] = certificate.thumbprint_sha1
        data["client_certificate_expiration"] = certificate.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Response(data=data)


async def config_write(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    stored = await b.load_config(req.storage)
    values: dict[str, Any] = (
        stored.to_storage() if stored is not None else {name: "" for name in FIELDS}
    )
    problems = _credential_changes(values, d) + _limits(values, d)
    for name in FIELDS:
        if d.provided(name) and name not in TYPED:
            value = str(d.get(name))
            values[name] = value if name in VERBATIM else value.strip()
    config = await _validated(values, problems)
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
        await b.records.put(req.storage, CONFIG_KEY, config.to_storage())
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
    await b.records.delete(req.storage, CONFIG_KEY)
    await b.install_clients(None)
    logger.info("config deleted")
    return None


def _credential_changes(values: dict[str, Any], d: FieldData) -> list[str]:
    """Apply the write's choice of credential and root_password_ttl to `values`.

    Writing a new credential replaces the other (switching how the engine signs in); a
    client secret written by hand has no known keyId (rotate-root records the ones it makes).
    """
    problems: list[str] = []
    named = [name for name in CREDENTIALS if d.provided(name) and str(d.get(name))]
    changed = [name for name in named if str(d.get(name)) != values.get(name)]
    if len(named) > 1:
        problems.append(
            "client_secret and client_certificate cannot both be set: the engine signs in "
            "with one of them"
        )
    elif changed:
        other = "client_certificate" if named[0] == "client_secret" else "client_secret"
        values[other] = ""
        values["client_secret_key_id"] = ""
    if d.provided("root_password_ttl"):
        ttl: timedelta = d.get("root_password_ttl")
        if ttl <= timedelta(0):
            ttl = DEFAULT_ROOT_PASSWORD_TTL
        if ttl > MAX_ROOT_PASSWORD_TTL:
            problems.append("root_password_ttl must be at most 17520h (2 years), Entra's limit")
        values["root_password_ttl"] = int(ttl.total_seconds())
    return problems


def _limits(values: dict[str, Any], d: FieldData) -> list[str]:
    """Apply the write's max_graph_calls to `values`; the problem with it, if any."""
    if not d.provided("max_graph_calls"):
        return []
    calls: int = d.get("max_graph_calls")
    values["max_graph_calls"] = calls or DEFAULT_MAX_GRAPH_CALLS
    if not 0 <= calls <= MAX_GRAPH_CALLS_LIMIT:
        return [
            f"max_graph_calls must be between 1 and {MAX_GRAPH_CALLS_LIMIT} (0 or unset "
            f"means {DEFAULT_MAX_GRAPH_CALLS})"
        ]
    return []


async def _validated(values: dict[str, Any], problems: list[str]) -> Config:
    """The merged config, or one 400 listing every problem with it."""
    problems += [f"{name} is required" for name in REQUIRED if not values.get(name)]
    if not any(values.get(name) for name in CREDENTIALS):
        problems.append("client_secret or client_certificate is required")
    if values.get("client_certificate"):
        try:
            certificate = await asyncio.to_thread(
                parse_client_certificate, values["client_certificate"]
            )
        except CertificateProblem as exc:
            problems.append(str(exc))
        else:
            # Stored as parsed: the certificate, then the key in PKCS#8.
            values["client_certificate"] = certificate.certificate_pem + certificate.private_key_pem
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
        except CertificateProblem as exc:  # non-ASCII text: the sentence names the line
            problems.append(str(exc))
        except (ssl.SSLError, ValueError):
            problems.append(CA_PROBLEM)
    if problems:
        raise InvalidRequestError(errors=problems)
    return Config.from_storage(values)


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
the result; missing permissions are reported as warnings. The engine signs in with
client_secret or, instead, client_certificate (a PEM certificate registered on the
application, with its private key); writing one replaces the other. Reads never return
either (a certificate's thumbprint and expiration instead). authority_host,
graph_endpoint and ca_cert point the engine at another login or Graph host, such as a
proxy or the bundled emulator.
"""
