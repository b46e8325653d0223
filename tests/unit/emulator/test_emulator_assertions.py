"""The emulator's client assertion checks: each way Entra refuses a certificate sign-in."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from emulator.assertions import AssertionRefused, verify_client_assertion
from emulator.credentials import Application, KeyCredential, thumbprints
from tests.client_certificates import ClientCertificate, make_client_certificate

APP_ID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
AUDIENCE = "https://login.example.test/tenant/oauth2/v2.0/token"


@pytest.fixture(scope="module")
def registered() -> ClientCertificate:
    return make_client_certificate("registered")


@pytest.fixture(scope="module")
def stranger() -> ClientCertificate:
    return make_client_certificate("not registered")


@pytest.fixture
def app(registered: ClientCertificate) -> Application:
    found = Application(
        id=str(uuid.uuid4()), app_id=APP_ID, display_name="engine", service_principal_id="sp"
    )
    found.key_credentials.append(KeyCredential.from_pem(registered.certificate_pem, ""))
    return found


def assertion(
    signer: ClientCertificate,
    *,
    thumbprint_of: ClientCertificate | None = None,
    header: str = "x5t",
    **claims: Any,
) -> str:
    """A client assertion as msal builds one, signed by `signer`'s key."""
    sha1, sha256 = thumbprints((thumbprint_of or signer).certificate)
    now = int(time.time())
    body = {"aud": AUDIENCE, "iss": APP_ID, "sub": APP_ID, "exp": now + 600, "iat": now}
    body.update(claims)
    headers = {"x5t": sha1} if header == "x5t" else {"x5t#S256": sha256}
    return jwt.encode(body, signer.private_key, algorithm="RS256", headers=headers)


def refusal(app: Application, token: str) -> AssertionRefused:
    with pytest.raises(AssertionRefused) as caught:
        verify_client_assertion(app, token, [AUDIENCE])
    return caught.value


def test_an_assertion_signed_by_the_registered_certificate_is_accepted(
    app: Application, registered: ClientCertificate
) -> None:
    verify_client_assertion(app, assertion(registered), [AUDIENCE])
    verify_client_assertion(app, assertion(registered, header="x5t#S256"), [AUDIENCE])


def test_a_padded_thumbprint_as_msal_sends_it_is_accepted(
    app: Application, registered: ClientCertificate
) -> None:
    # msal encodes thumbprints as base64url with "=" padding.
    sha1, sha256 = thumbprints(registered.certificate)
    now = int(time.time())
    claims = {"aud": AUDIENCE, "iss": APP_ID, "sub": APP_ID, "exp": now + 600}
    for header in ({"x5t": sha1 + "="}, {"x5t#S256": sha256 + "="}):
        token = jwt.encode(claims, registered.private_key, algorithm="PS256", headers=header)
        verify_client_assertion(app, token, [AUDIENCE])


def test_an_unregistered_certificate_is_refused(
    app: Application, stranger: ClientCertificate
) -> None:
    refused = refusal(app, assertion(stranger))
    assert refused.aadsts == 700027
    assert "not registered" in refused.description and APP_ID in refused.description


def test_a_signature_by_another_key_is_refused(
    app: Application, registered: ClientCertificate, stranger: ClientCertificate
) -> None:
    # The registered certificate's thumbprint, but signed with another key.
    refused = refusal(app, assertion(stranger, thumbprint_of=registered))
    assert refused.aadsts == 700027
    assert "signature validation" in refused.description


def test_an_expired_assertion_is_refused(app: Application, registered: ClientCertificate) -> None:
    # Beyond the 5 minutes of clock skew Entra tolerates.
    refused = refusal(app, assertion(registered, exp=int(time.time()) - 600))
    assert refused.aadsts == 700024
    # Within the skew it still passes.
    verify_client_assertion(app, assertion(registered, exp=int(time.time()) - 60), [AUDIENCE])


def test_an_assertion_for_another_audience_is_refused(
    app: Application, registered: ClientCertificate
) -> None:
    refused = refusal(app, assertion(registered, aud="https://elsewhere.test/token"))
    assert refused.aadsts == 700027
    assert "audience" in refused.description


def test_an_assertion_issued_for_another_application_is_refused(
    app: Application, registered: ClientCertificate
) -> None:
    other = str(uuid.uuid4())
    assert refusal(app, assertion(registered, iss=other, sub=other)).aadsts == 700021


def test_malformed_or_unmarked_assertions_are_refused(
    app: Application, registered: ClientCertificate
) -> None:
    assert refusal(app, "not.a.jwt").aadsts == 50027
    now = int(time.time())
    unmarked = jwt.encode(
        {"aud": AUDIENCE, "iss": APP_ID, "sub": APP_ID, "exp": now + 600},
        registered.private_key,
        algorithm="RS256",
    )
    refused = refusal(app, unmarked)
    assert refused.aadsts == 700027 and "thumbprint" in refused.description


def test_a_missing_claim_is_refused(app: Application, registered: ClientCertificate) -> None:
    sha1, _ = thumbprints(registered.certificate)
    token = jwt.encode(
        {"aud": AUDIENCE, "iss": APP_ID, "sub": APP_ID},  # no exp
        registered.private_key,
        algorithm="RS256",
        headers={"x5t": sha1},
    )
    assert refusal(app, token).aadsts == 700027
