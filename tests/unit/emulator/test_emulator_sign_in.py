"""The emulator's sign-in book: PKCE checks, one-use expiring codes, group membership."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from emulator.app import create_emulator_app
from emulator.cli import parse_groups
from emulator.keys import SIGN_IN_KEY, STATE_KEY
from emulator.settings import EmulatorSettings
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


def test_the_group_flag_names_members_among_the_users() -> None:
    users = ["alice@example.test", "Bob@example.test"]
    assert parse_groups(["Eng=alice@example.test,bob@example.test", "Empty="], users) == {
        "Eng": ["alice@example.test", "Bob@example.test"],
        "Empty": [],
    }
    with pytest.raises(ValueError, match="is not one of the --user users"):
        parse_groups(["Eng=carol@example.test"], users)
    with pytest.raises(ValueError, match="must be NAME=UPN"):
        parse_groups(["Eng"], users)


def test_groups_from_the_settings_exist_at_start() -> None:
    settings = EmulatorSettings(
        tenant_id="t",
        client_id="c",
        client_secret="s",
        users=["alice@example.test"],
        groups={"Eng": ["alice@example.test"]},
    )
    app = create_emulator_app(settings)
    alice = app[STATE_KEY].find_user("alice@example.test")
    assert alice is not None
    [group] = app[SIGN_IN_KEY].groups.values()
    assert group.display_name == "Eng"
    assert app[SIGN_IN_KEY].groups_of(alice.id) == [group.id]
