"""ca_cert text as Python's ssl takes it: OpenSSL's view of a bundle, without its 500s."""

from __future__ import annotations

import ssl

import pytest

from plugin.client_certificate import CertificateProblem, ca_bundle_pem
from plugin.graph import tls_context
from tests.client_certificates import make_client_certificate

PEM = make_client_certificate("bundle test CA").certificate_pem


def test_ascii_text_is_left_to_openssl_as_written() -> None:
    text = f"# a comment\n{PEM}trailing words\n"
    assert ca_bundle_pem(text) == text


def test_non_ascii_around_the_blocks_is_dropped_and_the_certificates_kept() -> None:
    text = (
        f"# Issuer: CN=TÜBİTAK Kök\n{PEM}# — fin\n{PEM.replace('CERTIFICATE', 'X509 CERTIFICATE')}"
    )
    kept = ca_bundle_pem(text)
    assert kept.isascii() and kept.count("-----BEGIN") == 2
    assert "TÜBİTAK" not in kept
    context = tls_context(text)  # what the engine builds its Graph client with
    assert context.cert_store_stats()["x509"] == 1  # the same certificate twice


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("Zoë", "ca_cert must be PEM text of one or more CA certificates"),
        (
            "é\n-----BEGIN CERTIFICATE-----\nAAAA\n",
            "ca_cert line 2 begins a certificate that never",
        ),
        (f"é\n{PEM[:40]}ü{PEM[41:]}", "ca_cert line 3 holds the non-ASCII character U+00FC"),
    ],
    ids=["no-block", "unterminated", "inside"],
)
def test_what_cannot_be_read_is_named(text: str, sentence: str) -> None:
    with pytest.raises(CertificateProblem) as caught:
        ca_bundle_pem(text)
    assert str(caught.value).startswith(sentence), caught.value
    with pytest.raises(ValueError):  # and tls_context raises it, never a TypeError
        tls_context(text)


def test_ascii_garbage_is_still_openssls_error() -> None:
    with pytest.raises(ssl.SSLError):
        tls_context("not a certificate")
