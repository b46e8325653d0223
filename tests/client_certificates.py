"""Self-signed client certificates (PEM with the private key) for certificate sign-in tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

__all__ = ["ClientCertificate", "make_client_certificate"]


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A certificate with its unencrypted key, as PEM text, and the key object for signing."""

    certificate_pem: str
    private_key_pem: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def combined_pem(self) -> str:
        """What an operator writes to client_certificate: the certificate and its key."""
        return self.certificate_pem + self.private_key_pem


def make_client_certificate(
    name: str = "entra-broker test", *, valid_for: timedelta = timedelta(days=30)
) -> ClientCertificate:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + valid_for)
        .sign(key, hashes.SHA256())
    )
    return ClientCertificate(
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        private_key=key,
        certificate=certificate,
    )
