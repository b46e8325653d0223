"""PEM text in config: the engine's client certificate (with its key) and the CA bundle.

The client certificate is parsed once at config write (so a bad PEM is a 400, not a
failed sign-in later) and again, off the event loop, when msal is built.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = [
    "CA_PROBLEM",
    "CertificateProblem",
    "ClientCertificate",
    "ca_bundle_pem",
    "parse_client_certificate",
]

_PROBLEM = (
    "client_certificate must be PEM text holding the application's certificate "
    "(-----BEGIN CERTIFICATE-----) and its unencrypted private key (-----BEGIN PRIVATE KEY-----)"
)
CA_PROBLEM = "ca_cert must be PEM text of one or more CA certificates"
# The labels OpenSSL reads a CA certificate under; it skips every other block.
_CERTIFICATE_BEGIN = re.compile(r"-----BEGIN ((?:X509 |TRUSTED )?CERTIFICATE)-----")


class CertificateProblem(ValueError):
    """The PEM cannot be used (to sign the engine in, or as CAs); the message says what to fix."""


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """The certificate (PEM), its private key (PEM), and what may be shown of it."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)
    # Upper-case hex, as the Azure portal shows a certificate's thumbprint.
    thumbprint_sha1: str
    not_after: datetime

    def msal_credential(self) -> dict[str, str]:
        """msal's client_credential: given the certificate, msal signs the assertion with
        PS256 and names the certificate by its SHA-256 thumbprint (x5t#S256)."""
        return {"private_key": self.private_key_pem, "public_certificate": self.certificate_pem}


def _pem_blocks(text: str, label: str) -> list[str]:
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    blocks: list[str] = []
    start = text.find(begin)
    while start != -1:
        stop = text.find(end, start)
        if stop == -1:
            break
        blocks.append(text[start : stop + len(end)] + "\n")
        start = text.find(begin, stop)
    return blocks


def parse_client_certificate(pem: str) -> ClientCertificate:
    """The certificate and key in `pem`; CertificateProblem with a sentence otherwise."""
    certificates = _pem_blocks(pem, "CERTIFICATE")
    keys = [
        block for label in ("PRIVATE KEY", "RSA PRIVATE KEY") for block in _pem_blocks(pem, label)
    ]
    if "ENCRYPTED PRIVATE KEY" in pem or "Proc-Type: 4,ENCRYPTED" in pem:
        raise CertificateProblem(
            "client_certificate holds an encrypted private key; write it unencrypted "
            "(openssl pkey -in key.pem -out plain.pem), as it is stored encrypted here"
        )
    if not certificates or len(keys) != 1:
        raise CertificateProblem(_PROBLEM)
    try:
        certificate = x509.load_pem_x509_certificate(certificates[0].encode())
        key = serialization.load_pem_private_key(keys[0].encode(), password=None)
    except (ValueError, TypeError):
        raise CertificateProblem(_PROBLEM) from None
    # Entra signs in with RSA certificates only (RS256/PS256 assertions).
    public = certificate.public_key()
    if not isinstance(key, rsa.RSAPrivateKey) or not isinstance(public, rsa.RSAPublicKey):
        raise CertificateProblem("client_certificate must hold an RSA certificate and key")
    if key.public_key().public_numbers() != public.public_numbers():
        raise CertificateProblem(
            "client_certificate's private key does not belong to its (first) certificate"
        )
    der = certificate.public_bytes(serialization.Encoding.DER)
    return ClientCertificate(
        certificate_pem=certificates[0],
        # PKCS#8 whatever the input form, the one msal reads for every key type.
        private_key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        # Azure's thumbprint: SHA-1 by its definition, not a security choice.
        thumbprint_sha1=hashlib.sha1(der).hexdigest().upper(),
        not_after=certificate.not_valid_after_utc,
    )


def ca_bundle_pem(text: str) -> str:
    """`text` as Python's ssl takes it for `cadata`: ASCII, or CertificateProblem naming the line.

    OpenSSL skips whatever surrounds the certificate blocks (a bundle's comments, such as
    certifi's `# Issuer: CN=TÜBİTAK ...`), but ssl refuses a non-ASCII str before OpenSSL
    sees it; so a non-ASCII text keeps only its certificate blocks, which must be ASCII.
    """
    if text.isascii():
        return text  # as written: OpenSSL decides
    blocks: list[str] = []
    position = 0
    # One pass: each block's end is searched from its start, so the scan stays linear.
    while (begin := _CERTIFICATE_BEGIN.search(text, position)) is not None:
        end_marker = f"-----END {begin.group(1)}-----"
        end = text.find(end_marker, begin.end())
        if end == -1:
            raise CertificateProblem(
                f"ca_cert line {_line(text, begin.start())} begins a certificate that never "
                f"ends: {end_marker} is missing"
            )
        position = end + len(end_marker)
        block = text[begin.start() : position]
        offset = next((i for i, c in enumerate(block) if not c.isascii()), None)
        if offset is not None:
            where = begin.start() + offset
            raise CertificateProblem(
                f"ca_cert line {_line(text, where)} holds the non-ASCII character "
                f"U+{ord(text[where]):04X} inside a PEM block, where only base64 text may be: "
                "paste the certificates as exported (openssl x509 -in ca.pem)"
            )
        blocks.append(block + "\n")
    if not blocks:
        raise CertificateProblem(f"{CA_PROBLEM} (-----BEGIN CERTIFICATE----- ...)")
    return "".join(blocks)


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1
