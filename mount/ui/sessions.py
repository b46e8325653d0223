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

__all__ = ["COOKIE_NAME", "COOKIE_PATH", "Session", "SessionStore", "clear_cookie", "set_cookie"]

COOKIE_NAME = "entra_ui_session"
COOKIE_PATH = "/ui/"
# A session unused this long ends (its token may live on: it is the user's, not ours).
IDLE_SECONDS = 3600.0
# Sessions before sign-in (they hold only a CSRF token) live shorter.
ANONYMOUS_IDLE_SECONDS = 900.0
# At most this many sessions are kept; beyond it the least recently used one ends.
MAX_SESSIONS = 10_000


@dataclass(slots=True)
class Session:
    """One browser's state; `token` is empty until sign-in."""

    id: str = field(repr=False)
    csrf: str = field(repr=False)
    token: str = field(default="", repr=False)
    display_name: str = ""
    policies: tuple[str, ...] = ()
    # Epoch seconds when the token expires by its TTL (None: never); checked again then.
    token_expires: float | None = None
    last_seen: float = 0.0
    # One-shot sentences shown on the next page (outcomes of a POST, never secrets).
    notices: list[tuple[str, str]] = field(default_factory=list)

    @property
    def signed_in(self) -> bool:
        return bool(self.token)

    def notify(self, kind: str, text: str) -> None:
        """Queue a sentence for the next page: kind is "ok", "warning" or "error"."""
        self.notices.append((kind, text))

    def take_notices(self) -> list[tuple[str, str]]:
        found, self.notices = self.notices, []
        return found


class SessionStore:
    """Sessions by id, least recently used first, bounded in number and idle time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._clock = clock

    def __len__(self) -> int:
        return len(self._sessions)

    def new(self) -> Session:
        """A fresh anonymous session (a new id every time: sign-in never reuses one)."""
        self._expire()
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            last_seen=self._clock(),
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session with this id, marked used; None if unknown or idle too long."""
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self._idle(session):
            self.end(session)
            return None
        session.last_seen = now
        self._sessions.move_to_end(session_id)
        return session

    def end(self, session: Session) -> None:
        """Forget the session and the token it held."""
        self._sessions.pop(session.id, None)
        session.token = ""
        session.notices.clear()

    def _idle(self, session: Session) -> float:
        return IDLE_SECONDS if session.signed_in else ANONYMOUS_IDLE_SECONDS

    def _expire(self) -> None:
        now = self._clock()
        while self._sessions:
            oldest = next(iter(self._sessions.values()))
            if now - oldest.last_seen <= IDLE_SECONDS:
                break
            self.end(oldest)


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


def clear_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE_NAME, path=COOKIE_PATH, secure=request.secure, samesite="Strict")
