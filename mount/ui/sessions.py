"""The dashboard's sessions: kept in the server's memory only, named by a random cookie.

The signed-in user's Vault token lives in a `Session` and nowhere else: not in a cookie,
a URL, a page or on disk. A session ends on sign-out, when its token is found expired or
revoked, or after a while unused; the cookie then names nothing.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["COOKIE_NAME", "COOKIE_PATH", "Session", "SessionStore", "set_cookie"]

COOKIE_NAME = "entra_ui_session"
COOKIE_PATH = "/ui/"
# A session unused this long ends (its token may live on: it is the user's, not ours).
IDLE_SECONDS = 3600.0
# Sessions before sign-in (they hold only a CSRF token) live shorter.
ANONYMOUS_IDLE_SECONDS = 900.0
# At most this many signed-in sessions are kept; beyond it the least recently used ends.
MAX_SESSIONS = 10_000
# At most this many anonymous ones (the sign-in page's), apart from those.
MAX_ANONYMOUS_SESSIONS = 1_000
# Lease ids a session remembers having issued.
MAX_ISSUED_LEASES = 200
# Generate forms not yet sent, per session (each may be sent once).
MAX_ONCE_TOKENS = 20


@dataclass(slots=True)
class Session:
    """One browser's state; `token` is empty until sign-in."""

    id: str = field(repr=False)
    csrf: str = field(repr=False)
    token: str = field(default="", repr=False)
    display_name: str = ""
    # The token's accessor, for log lines (never the token).
    accessor: str = ""
    policies: tuple[str, ...] = ()
    last_seen: float = 0.0
    # One-shot sentences shown on the next page (outcomes of a POST, never secrets).
    notices: list[tuple[str, str]] = field(default_factory=list)
    # Leases issued through this session, newest last: shown to tokens that may not list
    # leases (lease ids are not secrets of ours to keep from their holder).
    issued: list[str] = field(default_factory=list)
    # Tokens of forms that may be sent once (Generate: a reload must not issue again).
    once: list[str] = field(default_factory=list, repr=False)
    # An OIDC sign-in under way: (auth method path, client_nonce); the callback must
    # come back to this browser's session, so a sign-in started elsewhere cannot land here.
    oidc_pending: tuple[str, str] | None = field(default=None, repr=False)

    @property
    def signed_in(self) -> bool:
        return bool(self.token)

    def notify(self, kind: str, text: str) -> None:
        """Queue a sentence for the next page: kind is "ok", "warning" or "error"."""
        self.notices.append((kind, text))

    def take_notices(self) -> list[tuple[str, str]]:
        found, self.notices = self.notices, []
        return found

    def remember_lease(self, lease_id: str) -> None:
        self.issued = [*self.issued[-(MAX_ISSUED_LEASES - 1) :], lease_id]

    def once_token(self) -> str:
        """A token for a form that may be sent only once (the oldest unused ones lapse)."""
        token = secrets.token_urlsafe(16)
        self.once = [*self.once[-(MAX_ONCE_TOKENS - 1) :], token]
        return token

    def spend_once(self, token: str) -> bool:
        """Whether `token` was handed out and not yet spent; it is spent now."""
        if token and token in self.once:
            self.once.remove(token)
            return True
        return False


class SessionStore:
    """Sessions by id, least recently used first, bounded in number and idle time.

    Anonymous sessions (the sign-in page's, holding only a CSRF token) are kept apart
    and bounded on their own: requests without a token can only ever push out other
    anonymous sessions, never a signed-in user's.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._anonymous: OrderedDict[str, Session] = OrderedDict()
        self._signed_in: OrderedDict[str, Session] = OrderedDict()
        self._clock = clock

    def __len__(self) -> int:
        return len(self._anonymous) + len(self._signed_in)

    def new(self) -> Session:
        """A fresh anonymous session."""
        return self._add(self._anonymous, MAX_ANONYMOUS_SESSIONS, ANONYMOUS_IDLE_SECONDS)

    def sign_in(self, token: str) -> Session:
        """A fresh session holding `token` (a new id: one seen before sign-in grants
        nothing after it)."""
        session = self._add(self._signed_in, MAX_SESSIONS, IDLE_SECONDS)
        session.token = token
        return session

    def _add(self, table: OrderedDict[str, Session], limit: int, idle: float) -> Session:
        now = self._clock()
        while table and now - next(iter(table.values())).last_seen > idle:
            self.end(next(iter(table.values())))
        while len(table) >= limit:
            self.end(next(iter(table.values())))
        session = Session(
            id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), last_seen=now
        )
        table[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session with this id, marked used; None if unknown or idle too long."""
        for table, idle in (
            (self._signed_in, IDLE_SECONDS),
            (self._anonymous, ANONYMOUS_IDLE_SECONDS),
        ):
            session = table.get(session_id)
            if session is None:
                continue
            now = self._clock()
            if now - session.last_seen > idle:
                self.end(session)
                return None
            session.last_seen = now
            table.move_to_end(session_id)
            return session
        return None

    def end(self, session: Session) -> None:
        """Forget the session and the token it held."""
        self._anonymous.pop(session.id, None)
        self._signed_in.pop(session.id, None)
        session.token = ""
        session.notices.clear()
        session.once.clear()
        session.issued.clear()


def set_cookie(request: web.Request, response: web.StreamResponse, session: Session) -> None:
    """The session cookie: HttpOnly, SameSite=Strict, only under /ui/, Secure under TLS."""
    response.set_cookie(
        COOKIE_NAME,
        session.id,
        path=COOKIE_PATH,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
    )
