"""entra/config with non-ASCII or garbage certificate text: a 400 that says what to fix.

schemathesis found that a `ca_cert` with any non-ASCII character was a 500 (Python's ssl
refuses a non-ASCII str before OpenSSL sees it). OpenSSL itself skips what surrounds the
PEM blocks, as the comments of a CA bundle, so non-ASCII there is fine; inside a block it
is named by line.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.client_certificates import make_client_certificate
from tests.e2e.conftest import ALICE, Setup, Tenant, assert_error_body

BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


def _damaged_ca(setup: Setup) -> str:
    """The emulator's CA with one base64 character of its second line made non-ASCII."""
    lines = setup.tenant.ca_path.read_text().splitlines(keepends=True)
    lines[1] = "é" + lines[1][1:]
    return "".join(lines)


BAD_CA: dict[str, Any] = {
    "word": ("José", "ca_cert must be PEM text of one or more CA certificates"),
    "snowman": ("garbage☃", "ca_cert must be PEM text of one or more CA certificates"),
    "block": (
        f"{BEGIN}\nJosé\n{END}\n",
        "ca_cert line 2 holds the non-ASCII character U+00E9 inside a PEM block",
    ),
    "damaged": (_damaged_ca, "ca_cert line 2 holds the non-ASCII character U+00E9"),
    "bom": ("\ufeffJosé", "ca_cert must be PEM text of one or more CA certificates"),
}


@pytest.mark.parametrize("case", list(BAD_CA))
def test_a_non_ascii_ca_cert_is_a_400_naming_what_to_fix(
    configured: Setup, tenant: Tenant, case: str
) -> None:
    value, sentence = BAD_CA[case]
    text = value(configured) if callable(value) else value
    before = configured.api.request("GET", "entra/config").json()["data"]
    response = configured.api.request("PUT", "entra/config", json={"ca_cert": text})
    errors = assert_error_body(response, 400)
    assert any(e.startswith(sentence) for e in errors), errors
    assert configured.api.request("GET", "entra/config").json()["data"] == before
    configured.role("alice", ttl="1m")
    assert tenant.signs_in(ALICE, configured.creds("alice")["data"]["password"])


def test_non_ascii_comments_around_the_ca_certificates_are_fine(
    configured: Setup, tenant: Tenant
) -> None:
    # The shape of certifi's bundle: "# Issuer: CN=TÜBİTAK Kamu SM SSL Kök Sertifikası ..."
    pem = tenant.ca_path.read_text()
    bundle = f"# Émetteur : l’AC de test de Zoë ✓\n{pem}# Fin — ende\n"
    response = configured.api.request("PUT", "entra/config", json={"ca_cert": bundle})
    assert response.status_code in (200, 204), response.text
    stored = configured.api.request("GET", "entra/config").json()["data"]["ca_cert"]
    assert stored == bundle.strip()  # as written, less the blank edges every field loses
    configured.role("alice", ttl="1m")
    assert tenant.signs_in(ALICE, configured.creds("alice")["data"]["password"])


@pytest.mark.parametrize(
    "text",
    [
        "José",
        f"{BEGIN}\nJosé\n{END}\n-----BEGIN PRIVATE KEY-----\nZoë\n-----END PRIVATE KEY-----\n",
        "\x00\x01garbage☃",
    ],
    ids=["word", "blocks", "control"],
)
def test_a_garbage_client_certificate_is_a_400(configured: Setup, text: str) -> None:
    response = configured.api.request("PUT", "entra/config", json={"client_certificate": text})
    errors = assert_error_body(response, 400)
    assert any(e.startswith("client_certificate must be PEM text") for e in errors), errors


def test_a_client_certificate_with_a_non_ascii_key_is_a_400(configured: Setup) -> None:
    cert = make_client_certificate()
    key_lines = cert.private_key_pem.splitlines(keepends=True)
    key_lines[2] = "ü" + key_lines[2][1:]
    text = cert.certificate_pem + "".join(key_lines)
    response = configured.api.request("PUT", "entra/config", json={"client_certificate": text})
    errors = assert_error_body(response, 400)
    assert any(e.startswith("client_certificate must be PEM text") for e in errors), errors
    assert key_lines[1] not in response.text  # never echoes the key
