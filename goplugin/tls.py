"""go-plugin's AutoMTLS: our own throwaway certificate, and TLS contexts trusting the host's.

The host puts its certificate (ECDSA P-521) in PLUGIN_CLIENT_CERT; we answer with ours
(P-256, CN and SAN `localhost`, as the host verifies the name `localhost`) in the
handshake line. Both directions are mutual: the host's gRPC client presents its
certificate to our server, and we present ours when dialing the host's broker.
The standard `ssl` module (OpenSSL 3) accepts the P-521 signatures that grpcio's
BoringSSL refuses, which is why the stack is grpclib.
"""

from __future__ import annotations

import base64
import datetime
import os
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["PluginCertificate", "client_context", "new_certificate", "server_context"]

HOST_NAME = "localhost"
# The certificate lives as long as the process; go-plugin's own lasts about 30 years.
_VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True, slots=True)
class PluginCertificate:
    """Our certificate and key, PEM, and the DER form the handshake line carries."""

    cert_pem: bytes
    key_pem: bytes
    cert_der: bytes

    @property
    def handshake_field(self) -> str:
        """The DER certificate as base64 without padding (Go's RawStdEncoding)."""
        return base64.b64encode(self.cert_der).decode("ascii").rstrip("=")


def new_certificate() -> PluginCertificate:
    """A fresh self-signed P-256 certificate for `localhost`, server and client use."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, HOST_NAME),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "entra-broker plugin"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST_NAME)]), critical=False)
        # Self-signed and trusted directly by the host as its only root: a CA, like
        # go-plugin's own generated certificate.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return PluginCertificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


def _load_own(context: ssl.SSLContext, own: PluginCertificate) -> None:
    # ssl loads a key only from a file: a private directory, removed at once.
    with tempfile.TemporaryDirectory(prefix="goplugin-tls-") as folder:
        cert_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        for path, data in ((cert_path, own.cert_pem), (key_path, own.key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        context.load_cert_chain(cert_path, key_path)


def server_context(own: PluginCertificate, host_cert_pem: str) -> ssl.SSLContext:
    """Our gRPC server's TLS: TLS >= 1.2, ALPN h2, the host's certificate required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_own(context, own)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=host_cert_pem)
    context.set_alpn_protocols(["h2"])
    return context


def client_context(own: PluginCertificate, host_cert_pem: str) -> ssl.SSLContext:
    """TLS for dialing the host's broker: the host's certificate as the only root."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.load_verify_locations(cadata=host_cert_pem)
    _load_own(context, own)
    context.set_alpn_protocols(["h2"])
    return context
