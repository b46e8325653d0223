"""Stored records of the engine: Config, Role and the internal data of each kind of lease."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from plugin.clouds import Cloud, resolve_environment
from plugin.passwords import DEFAULT_LENGTH

__all__ = [
    "CONFIG_KEY",
    "DEFAULT_MAX_GRAPH_CALLS",
    "DEFAULT_ROOT_PASSWORD_TTL",
    "ROLE_PREFIX",
    "ClientSecretInternal",
    "Config",
    "CredentialType",
    "CredsInternal",
    "Mode",
    "Role",
    "RecordError",
    "TapInternal",
]

CONFIG_KEY = "config"
# Vault's Azure engine's default for root_password_ttl: about six months.
DEFAULT_ROOT_PASSWORD_TTL = timedelta(days=182)
# Graph calls the engine keeps in flight at once: within what Graph tolerates from one
# application before throttling, and what the expiry target was measured with.
DEFAULT_MAX_GRAPH_CALLS = 32
ROLE_PREFIX = "roles/"


class RecordError(ValueError):
    """A stored record lacks a field it must have (storage damaged or hand-edited)."""


def _required(data: Mapping[str, Any], key: str, record: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise RecordError(f"stored {record} has no {key}")
    return value


@dataclass(frozen=True, slots=True)
class Config:
    """How to reach the tenant. Empty overrides mean "the environment's own host"."""

    tenant_id: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    environment: str = "AzurePublicCloud"
    authority_host: str = ""
    graph_endpoint: str = ""
    ca_cert: str = ""
    # PEM certificate with its private key: signs the engine in instead of client_secret.
    client_certificate: str = field(default="", repr=False)
    # The Graph keyId of client_secret when known (rotate-root records it), else "".
    client_secret_key_id: str = ""
    # Lifetime of a client secret rotate-root creates.
    root_password_ttl: timedelta = DEFAULT_ROOT_PASSWORD_TTL
    # Graph calls in flight at once for the whole engine; more wait for a free one.
    max_graph_calls: int = DEFAULT_MAX_GRAPH_CALLS

    @property
    def cloud(self) -> Cloud:
        return resolve_environment(self.environment)

    @property
    def login_url(self) -> str:
        """The login base URL in use, without a trailing slash."""
        return (self.authority_host or self.cloud.authority_host).rstrip("/")

    @property
    def graph_url(self) -> str:
        """The Graph base URL in use (without `/v1.0`), without a trailing slash."""
        return (self.graph_endpoint or self.cloud.graph_endpoint).rstrip("/")

    def to_storage(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "environment": self.environment,
            "authority_host": self.authority_host,
            "graph_endpoint": self.graph_endpoint,
            "ca_cert": self.ca_cert,
            "client_certificate": self.client_certificate,
            "client_secret_key_id": self.client_secret_key_id,
            "root_password_ttl": int(self.root_password_ttl.total_seconds()),
            "max_graph_calls": self.max_graph_calls,
        }

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> Config:
        certificate = str(data.get("client_certificate") or "")
        ttl = int(data.get("root_password_ttl") or 0)
        calls = int(data.get("max_graph_calls") or 0)  # configs stored before it: 0
        return cls(
            tenant_id=_required(data, "tenant_id", "config"),
            client_id=_required(data, "client_id", "config"),
            # One of the two signs the engine in.
            client_secret="" if certificate else _required(data, "client_secret", "config"),
            environment=str(data.get("environment") or "AzurePublicCloud"),
            authority_host=str(data.get("authority_host") or ""),
            graph_endpoint=str(data.get("graph_endpoint") or ""),
            ca_cert=str(data.get("ca_cert") or ""),
            client_certificate=certificate,
            client_secret_key_id=str(data.get("client_secret_key_id") or ""),
            root_password_ttl=timedelta(seconds=ttl) if ttl > 0 else DEFAULT_ROOT_PASSWORD_TTL,
            max_graph_calls=calls if calls > 0 else DEFAULT_MAX_GRAPH_CALLS,
        )


class Mode(enum.StrEnum):
    """How concurrent leases of one user behave."""

    ROTATE = "rotate"
    EXCLUSIVE = "exclusive"


class CredentialType(enum.StrEnum):
    """What a role's creds hand out."""

    PASSWORD = "password"
    TEMPORARY_ACCESS_PASS = "temporary_access_pass"
    CLIENT_SECRET = "client_secret"

    @property
    def binds_user(self) -> bool:
        return self is not CredentialType.CLIENT_SECRET


@dataclass(frozen=True, slots=True)
class Role:
    """One Entra user (or, for client_secret, one application) bound to a name, with
    lease TTLs (zero: the mount's defaults).

    `allow_privileged_user` lets the user hold a privileged directory role
    (plugin.privileged); roles stored before a field existed read as its default.
    """

    name: str
    user_principal_name: str
    object_id: str
    ttl: timedelta = timedelta(0)
    max_ttl: timedelta = timedelta(0)
    password_length: int = DEFAULT_LENGTH
    mode: Mode = Mode.ROTATE
    allow_privileged_user: bool = False
    credential_type: CredentialType = CredentialType.PASSWORD
    is_usable_once: bool = False
    application_object_id: str = ""
    # The application's client id, resolved from application_object_id on write.
    client_id: str = ""

    def to_storage(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "user_principal_name": self.user_principal_name,
            "object_id": self.object_id,
            "ttl": int(self.ttl.total_seconds()),
            "max_ttl": int(self.max_ttl.total_seconds()),
            "password_length": self.password_length,
            "mode": self.mode.value,
            "allow_privileged_user": self.allow_privileged_user,
            "credential_type": self.credential_type.value,
            "is_usable_once": self.is_usable_once,
            "application_object_id": self.application_object_id,
            "client_id": self.client_id,
        }

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> Role:
        kind = CredentialType(data.get("credential_type") or CredentialType.PASSWORD.value)
        if kind.binds_user:
            upn = _required(data, "user_principal_name", "role")
            object_id = _required(data, "object_id", "role")
            app_object_id = client_id = ""
        else:
            upn = object_id = ""
            app_object_id = _required(data, "application_object_id", "role")
            client_id = _required(data, "client_id", "role")
        return cls(
            name=_required(data, "name", "role"),
            user_principal_name=upn,
            object_id=object_id,
            ttl=timedelta(seconds=int(data.get("ttl") or 0)),
            max_ttl=timedelta(seconds=int(data.get("max_ttl") or 0)),
            password_length=int(data.get("password_length") or DEFAULT_LENGTH),
            mode=Mode(data.get("mode") or Mode.ROTATE.value),
            allow_privileged_user=data.get("allow_privileged_user") is True,
            credential_type=kind,
            is_usable_once=data.get("is_usable_once") is True,
            application_object_id=app_object_id,
            client_id=client_id,
        )


@dataclass(frozen=True, slots=True)
class CredsInternal:
    """What a lease keeps to revoke its credential later; identifiers only, no secret."""

    role: str
    object_id: str
    user_principal_name: str
    # Which of the user's passwords this lease holds, once it is set (the pending form,
    # and leases older than this field, have none): see plugin.secret_password.
    password_id: str = ""

    def to_storage(self) -> dict[str, Any]:
        stored = {
            "role": self.role,
            "object_id": self.object_id,
            "user_principal_name": self.user_principal_name,
        }
        if self.password_id:
            stored["password_id"] = self.password_id
        return stored

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> CredsInternal:
        return cls(
            role=_required(data, "role", "lease"),
            object_id=_required(data, "object_id", "lease"),
            user_principal_name=str(data.get("user_principal_name") or ""),
            password_id=str(data.get("password_id") or ""),
        )


@dataclass(frozen=True, slots=True)
class TapInternal:
    """What a Temporary Access Pass lease keeps: the user and the pass's id, not the pass."""

    role: str
    object_id: str
    user_principal_name: str
    tap_id: str

    def to_storage(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "object_id": self.object_id,
            "user_principal_name": self.user_principal_name,
            "tap_id": self.tap_id,
        }

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> TapInternal:
        return cls(
            role=_required(data, "role", "lease"),
            object_id=_required(data, "object_id", "lease"),
            user_principal_name=str(data.get("user_principal_name") or ""),
            # Empty while the pass is being created (pending lease): nothing to delete yet.
            tap_id=str(data.get("tap_id") or ""),
        )


@dataclass(frozen=True, slots=True)
class ClientSecretInternal:
    """What a client secret lease keeps: the application and the secret's key id."""

    role: str
    application_object_id: str
    key_id: str

    def to_storage(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "application_object_id": self.application_object_id,
            "key_id": self.key_id,
        }

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> ClientSecretInternal:
        return cls(
            role=_required(data, "role", "lease"),
            application_object_id=_required(data, "application_object_id", "lease"),
            key_id=str(data.get("key_id") or ""),
        )
