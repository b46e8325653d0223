"""Client assertions (RFC 7523 `private_key_jwt`): verified against the app's certificates."""

from __future__ import annotations

import jwt

from emulator.credentials import Application

__all__ = ["ASSERTION_TYPE", "AssertionRefused", "verify_client_assertion"]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS = ["RS256", "PS256"]
_LEEWAY = 300  # seconds of clock skew Entra tolerates


class AssertionRefused(Exception):
    """Why Entra would refuse an assertion: its AADSTS code and description."""

    def __init__(self, aadsts: int, description: str) -> None:
        super().__init__(description)
        self.aadsts = aadsts
        self.description = description


def verify_client_assertion(app: Application, assertion: str, audiences: list[str]) -> None:
    """Raise AssertionRefused unless `assertion` is signed by a certificate of `app`.

    The certificate is picked by the `x5t` (SHA-1) or `x5t#S256` thumbprint in the
    header, as Entra does; `aud` must be this token endpoint, `iss` and `sub` the app.
    """
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError:
        raise AssertionRefused(50027, "JWT token is invalid or malformed.") from None
    x5t, x5t_s256 = str(header.get("x5t") or ""), str(header.get("x5t#S256") or "")
    if not x5t and not x5t_s256:
        raise AssertionRefused(
            700027, "Client assertion contains no x5t or x5t#S256 certificate thumbprint."
        )
    key = app.find_certificate(x5t, x5t_s256)
    if key is None:
        raise AssertionRefused(
            700027,
            "Client assertion failed signature validation. The certificate with identifier "
            f"used to sign the client assertion is not registered on application "
            f"'{app.app_id}'.",
        )
    try:
        claims = jwt.decode(
            assertion,
            key.certificate.public_key(),  # type: ignore[arg-type]
            algorithms=_ALGORITHMS,
            audience=audiences,
            leeway=_LEEWAY,
            options={"require": ["exp", "aud", "iss", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AssertionRefused(
            700024, "Client assertion is not within its valid time range."
        ) from None
    except jwt.InvalidAudienceError:
        raise AssertionRefused(
            700027, "Client assertion audience is not this tenant's token endpoint."
        ) from None
    except jwt.InvalidSignatureError:
        raise AssertionRefused(700027, "Client assertion failed signature validation.") from None
    except jwt.PyJWTError as exc:
        raise AssertionRefused(
            700027, f"Client assertion is not valid ({type(exc).__name__})."
        ) from None
    if (
        str(claims.get("iss")).lower() != app.app_id.lower()
        or str(claims.get("sub")).lower() != app.app_id.lower()
    ):
        raise AssertionRefused(
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter.",
        )
