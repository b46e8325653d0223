"""The dashboard's session store: random ids, idle expiry, a bound, tokens forgotten."""

from __future__ import annotations

from mount.ui import sessions
from mount.ui.sessions import SessionStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_ids_and_csrf_tokens_are_random_and_long() -> None:
    store = SessionStore()
    made = [store.new() for _ in range(50)]
    assert len({s.id for s in made}) == 50
    assert len({s.csrf for s in made}) == 50
    assert all(len(s.id) >= 43 and len(s.csrf) >= 43 for s in made)  # 32 bytes, base64
    assert all(s.id != s.csrf for s in made)


def test_a_session_unused_too_long_ends_and_forgets_its_token() -> None:
    clock = Clock()
    store = SessionStore(clock)
    session = store.new()
    session.token = "s.secret-token"
    clock.now += sessions.IDLE_SECONDS - 1
    assert store.get(session.id) is session  # used: the idle timer starts again
    clock.now += sessions.IDLE_SECONDS - 1
    assert store.get(session.id) is session
    clock.now += sessions.IDLE_SECONDS + 1
    assert store.get(session.id) is None
    assert session.token == ""


def test_anonymous_sessions_expire_sooner() -> None:
    clock = Clock()
    store = SessionStore(clock)
    anonymous = store.new()
    clock.now += sessions.ANONYMOUS_IDLE_SECONDS + 1
    assert store.get(anonymous.id) is None


def test_ending_a_session_forgets_it() -> None:
    store = SessionStore()
    session = store.new()
    session.token = "s.secret-token"
    session.notify("ok", "done")
    store.end(session)
    assert store.get(session.id) is None
    assert session.token == "" and session.take_notices() == []
    assert "secret" not in repr(session)


def test_the_store_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    store = SessionStore()
    first, second, third = store.new(), store.new(), store.new()
    assert store.get(first.id) is first  # recently used: kept
    store.new()
    assert len(store) == 3
    assert store.get(second.id) is None  # the least recently used one ended
    assert store.get(first.id) is first and store.get(third.id) is third


def test_notices_are_shown_once() -> None:
    session = SessionStore().new()
    session.notify("warning", "capped")
    assert session.take_notices() == [("warning", "capped")]
    assert session.take_notices() == []
