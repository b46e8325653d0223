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
    session = store.sign_in("s.secret-token")
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
    session = store.sign_in("s.secret-token")
    session.notify("ok", "done")
    store.end(session)
    assert store.get(session.id) is None
    assert session.token == "" and session.take_notices() == []
    assert "secret" not in repr(session)


def test_the_store_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    store = SessionStore()
    first, second, third = (store.sign_in(f"s.t{n}") for n in range(3))
    assert store.get(first.id) is first  # recently used: kept
    store.sign_in("s.t4")
    assert len(store) == 3
    assert store.get(second.id) is None  # the least recently used one ended
    assert second.token == ""
    assert store.get(first.id) is first and store.get(third.id) is third


def test_anonymous_sessions_never_push_out_signed_in_ones(monkeypatch) -> None:
    monkeypatch.setattr(sessions, "MAX_ANONYMOUS_SESSIONS", 2)
    store = SessionStore()
    user = store.sign_in("s.user")
    anonymous = [store.new() for _ in range(50)]
    assert len(store) == 3
    assert store.get(user.id) is user and user.token == "s.user"
    assert store.get(anonymous[0].id) is None
    assert store.get(anonymous[-1].id) is anonymous[-1]


def test_a_signed_in_session_has_a_new_id() -> None:
    store = SessionStore()
    before = store.new()
    after = store.sign_in("s.user")
    assert after.id != before.id and after.csrf != before.csrf


def test_a_once_token_is_spent_once() -> None:
    session = SessionStore().new()
    token = session.once_token()
    assert not session.spend_once("") and not session.spend_once("other")
    assert session.spend_once(token)
    assert not session.spend_once(token)
    tokens = [session.once_token() for _ in range(sessions.MAX_ONCE_TOKENS + 5)]
    assert not session.spend_once(tokens[0])  # the oldest lapsed
    assert session.spend_once(tokens[-1])


def test_notices_are_shown_once() -> None:
    session = SessionStore().new()
    session.notify("warning", "capped")
    assert session.take_notices() == [("warning", "capped")]
    assert session.take_notices() == []
