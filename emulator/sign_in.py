"""Interactive sign-in without a browser: groups, who is "signed in", authorization codes.

The authorization endpoint signs in the user a request names by `login_hint`, or else the
user an operator chose with PUT /_emulator/signed-in; it redirects to the client's
redirect_uri with a one-use code (10 minutes) bound to the PKCE challenge and nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass, field

__all__ = ["CODE_LIFETIME", "AuthorizationCode", "Group", "SignInBook", "pkce_matches"]

CODE_LIFETIME = 600.0  # seconds, as Entra's authorization codes (at most 10 minutes)


@dataclass(slots=True)
class Group:
    """A security group: its object id is what the `groups` claim carries."""

    id: str
    display_name: str
    members: list[str] = field(default_factory=list)  # user object ids


@dataclass(frozen=True, slots=True)
class AuthorizationCode:
    """What a code was issued for; the token endpoint checks each part."""

    client_id: str
    redirect_uri: str
    user_id: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    expires: float


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636: S256 hashes the verifier, `plain` compares it as is."""
    if method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    else:
        expected = verifier
    return hmac.compare_digest(expected, challenge)


class SignInBook:
    """The emulator's groups, the operator-chosen signed-in user and issued codes."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.signed_in: str | None = None  # a user's object id
        self._codes: dict[str, AuthorizationCode] = {}

    def add_group(self, display_name: str, group_id: str | None = None) -> Group:
        group = Group(id=group_id or str(uuid.uuid4()), display_name=display_name)
        self.groups[group.id] = group
        return group

    def find_group(self, key: str) -> Group | None:
        found = self.groups.get(key.lower())
        if found is not None:
            return found
        return next((g for g in self.groups.values() if g.display_name == key), None)

    def groups_of(self, user_id: str) -> list[str]:
        return [g.id for g in self.groups.values() if user_id in g.members]

    def issue_code(self, grant: AuthorizationCode) -> str:
        now = time.monotonic()
        self._codes = {k: v for k, v in self._codes.items() if v.expires > now}
        code = secrets.token_urlsafe(32)
        self._codes[code] = grant
        return code

    def redeem(self, code: str) -> AuthorizationCode | None:
        """The code's grant, once: a second redemption, or an expired code, gets None."""
        grant = self._codes.pop(code, None)
        if grant is None or grant.expires <= time.monotonic():
            return None
        return grant
