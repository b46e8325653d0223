"""The emulator's sign-in book: PKCE checks, one-use expiring codes, group membership."""

from __future__ import annotations

import base64
import hashlib
import time

from emulator.sign_in import AuthorizationCode, SignInBook, pkce_matches

VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
# RFC 7636 appendix B: the S256 challenge of the verifier above.
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def grant(expires_in: float = 60.0) -> AuthorizationCode:
    return AuthorizationCode(
        client_id="c",
        redirect_uri="http://localhost/cb",
        user_id="u",
        scope="openid",
        nonce="n",
        code_challenge=CHALLENGE,
        code_challenge_method="S256",
        expires=time.monotonic() + expires_in,
    )


def test_pkce_s256_matches_the_rfc_example_and_nothing_else() -> None:
    assert pkce_matches(VERIFIER, CHALLENGE, "S256")
    assert not pkce_matches(VERIFIER + "x", CHALLENGE, "S256")
    assert not pkce_matches(CHALLENGE, CHALLENGE, "S256")
    assert pkce_matches("plain-verifier", "plain-verifier", "plain")
    digest = base64.urlsafe_b64encode(hashlib.sha256(b"v").digest()).decode().rstrip("=")
    assert pkce_matches("v", digest, "S256")


def test_a_code_is_redeemed_once() -> None:
    book = SignInBook()
    issued = grant()
    code = book.issue_code(issued)
    assert book.redeem(code) is issued
    assert book.redeem(code) is None
    assert book.redeem("never-issued") is None


def test_an_expired_code_is_refused() -> None:
    book = SignInBook()
    code = book.issue_code(grant(expires_in=-1))
    assert book.redeem(code) is None


def test_groups_of_lists_the_groups_a_user_is_in() -> None:
    book = SignInBook()
    eng = book.add_group("Engineers", "11111111-1111-1111-1111-111111111111")
    ops = book.add_group("Ops")
    eng.members.append("alice")
    ops.members.extend(["alice", "bob"])
    assert book.groups_of("alice") == [eng.id, ops.id]
    assert book.groups_of("bob") == [ops.id]
    assert book.groups_of("carol") == []
    assert book.find_group("Engineers") is eng
    assert book.find_group(eng.id.upper()) is eng
