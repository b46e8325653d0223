"""Applications with their password and certificate credentials, and Temporary Access Passes.

Every time-bound credential is judged against the tenant's clock (TenantState.now), so a
test can move time forward and watch Entra itself end a credential nobody revoked.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

__all__ = [
    "TAP_MAX_MINUTES",
    "TAP_MIN_MINUTES",
    "Application",
    "CertificateError",
    "KeyCredential",
    "PasswordCredential",
    "SecretCheck",
    "TemporaryAccessPass",
    "iso",
    "thumbprints",
]

# Entra's bounds for a Temporary Access Pass lifetime (30 days at most).
TAP_MIN_MINUTES = 10
TAP_MAX_MINUTES = 43200
# Graph's default for a password credential created without endDateTime.
DEFAULT_PASSWORD_LIFETIME = timedelta(days=730)


def iso(moment: datetime | None) -> str | None:
    """Graph's DateTimeOffset text: UTC with a Z."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


class CertificateError(ValueError):
    """A certificate that cannot be registered (not PEM, not X.509)."""


def thumbprints(certificate: x509.Certificate) -> tuple[str, str]:
    """The base64url SHA-1 and SHA-256 of the DER certificate (JWT x5t and x5t#S256)."""
    der = certificate.public_bytes(serialization.Encoding.DER)
    # x5t is SHA-1 by its definition (RFC 7517), x5t#S256 SHA-256.
    return _b64url(hashlib.sha1(der).digest()), _b64url(hashlib.sha256(der).digest())


class SecretCheck(enum.Enum):
    """How a client secret fares at the token endpoint."""

    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    # Added moments ago: Entra answers "invalid secret" until the new key has propagated.
    NOT_PROPAGATED = "not_propagated"


@dataclass(slots=True)
class PasswordCredential:
    """A client secret of an application; only a keyed digest of its text is held."""

    key_id: str
    display_name: str
    digest: bytes = field(repr=False)
    hint: str
    start: datetime
    end: datetime | None
    created: datetime
    # When Entra starts accepting it: the propagation delay in force when it was added.
    accepted_from: datetime
    # Tokens issued with it: lets tests see which secret a client signs in with.
    sign_ins: int = 0

    def to_graph(self) -> dict[str, object]:
        return {
            "customKeyIdentifier": None,
            "displayName": self.display_name,
            "endDateTime": iso(self.end),
            "hint": self.hint,
            "keyId": self.key_id,
            "secretText": None,
            "startDateTime": iso(self.start),
        }


@dataclass(slots=True)
class KeyCredential:
    """A certificate registered on an application, for client assertions."""

    key_id: str
    display_name: str
    certificate: x509.Certificate
    start: datetime
    end: datetime

    @property
    def x5t(self) -> str:
        return thumbprints(self.certificate)[0]

    @property
    def x5t_s256(self) -> str:
        return thumbprints(self.certificate)[1]

    def to_graph(self) -> dict[str, object]:
        return {
            "customKeyIdentifier": hashlib.sha1(  # Graph's thumbprint is SHA-1
                self.certificate.public_bytes(serialization.Encoding.DER)
            )
            .hexdigest()
            .upper(),
            "displayName": self.display_name,
            "endDateTime": iso(self.end),
            "keyId": self.key_id,
            "startDateTime": iso(self.start),
            "type": "AsymmetricX509Cert",
            "usage": "Verify",
        }

    @classmethod
    def from_pem(cls, pem: str, display_name: str) -> KeyCredential:
        try:
            certificate = x509.load_pem_x509_certificate(pem.encode())
        except ValueError:
            raise CertificateError("certificate must be one PEM X.509 certificate") from None
        return cls(
            key_id=str(uuid.uuid4()),
            display_name=display_name or certificate.subject.rfc4514_string(),
            certificate=certificate,
            start=certificate.not_valid_before_utc,
            end=certificate.not_valid_after_utc,
        )


@dataclass(slots=True)
class Application:
    """An app registration: object id, application (client) id, its credentials."""

    id: str
    app_id: str
    display_name: str
    # The object id of its service principal: the `oid` of its app-only tokens.
    service_principal_id: str
    password_credentials: list[PasswordCredential] = field(default_factory=list)
    key_credentials: list[KeyCredential] = field(default_factory=list)

    def to_graph(self) -> dict[str, object]:
        return {
            "id": self.id,
            "appId": self.app_id,
            "displayName": self.display_name,
            "passwordCredentials": [p.to_graph() for p in self.password_credentials],
            "keyCredentials": [k.to_graph() for k in self.key_credentials],
        }

    def find_password(self, key_id: str) -> PasswordCredential | None:
        wanted = key_id.lower()
        return next((p for p in self.password_credentials if p.key_id == wanted), None)

    def find_certificate(self, x5t: str, x5t_s256: str) -> KeyCredential | None:
        # msal pads its base64url thumbprints with "=", others do not; Entra takes both.
        x5t, x5t_s256 = x5t.rstrip("="), x5t_s256.rstrip("=")
        for key in self.key_credentials:
            if (x5t and key.x5t == x5t) or (x5t_s256 and key.x5t_s256 == x5t_s256):
                return key
        return None


@dataclass(slots=True)
class TemporaryAccessPass:
    """A user's Temporary Access Pass; the pass itself is held as a keyed digest."""

    id: str
    digest: bytes = field(repr=False)
    created: datetime
    start: datetime
    lifetime_in_minutes: int
    is_usable_once: bool
    used: bool = False

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.lifetime_in_minutes)

    def usability(self, now: datetime) -> tuple[bool, str]:
        """(isUsable, methodUsabilityReason) at `now`."""
        if now >= self.end:
            return False, "Expired"
        if now < self.start:
            return False, "NotYetValid"
        if self.is_usable_once and self.used:
            return False, "OneTimeUsed"
        return True, "EnabledByPolicy"

    def to_graph(self, now: datetime, *, secret: str | None = None) -> dict[str, object]:
        usable, reason = self.usability(now)
        return {
            "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
            "id": self.id,
            "temporaryAccessPass": secret,
            "createdDateTime": iso(self.created),
            "startDateTime": iso(self.start),
            "lifetimeInMinutes": self.lifetime_in_minutes,
            "isUsableOnce": self.is_usable_once,
            "isUsable": usable,
            "methodUsabilityReason": reason,
        }
