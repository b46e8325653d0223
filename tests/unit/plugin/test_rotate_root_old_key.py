"""Which of the engine application's keys rotate-root removes as the old secret."""

from __future__ import annotations

from plugin.graph import GraphApplication
from plugin.models import Config
from plugin.path_rotate_root import _current_key_id

SECRET = "abcSecretValue"


def app(*keys: tuple[str, str, str]) -> GraphApplication:
    """An application with (keyId, displayName, hint) secrets."""
    return GraphApplication(
        object_id="obj",
        app_id="client",
        display_name="engine",
        passwords=tuple((k, name) for k, name, _ in keys),
        password_hints={k: hint for k, _, hint in keys},
    )


def config(key_id: str = "") -> Config:
    return Config(
        tenant_id="t", client_id="client", client_secret=SECRET, client_secret_key_id=key_id
    )


def test_a_recorded_key_id_is_used_when_the_key_is_still_there() -> None:
    found = app(("k1", "entra-broker rotate-root x", "zzz"), ("k2", "other", "abc"))
    assert _current_key_id(config("K1"), found) == ("k1", "")
    key, why = _current_key_id(config("gone"), found)
    assert key == "" and "no longer on the application" in why


def test_a_hand_written_secret_is_found_by_its_unique_hint() -> None:
    assert _current_key_id(config(), app(("k1", "prod", "abc"), ("k2", "old", "xyz"))) == (
        "k1",
        "",
    )


def test_an_ambiguous_or_missing_hint_leaves_the_old_key_alone() -> None:
    key, why = _current_key_id(config(), app(("k1", "a", "abc"), ("k2", "b", "abc")))
    assert key == "" and "2 keys" in why
    key, why = _current_key_id(config(), app(("k1", "a", "xyz")))
    assert key == "" and "no key" in why


def test_a_secret_made_for_a_lease_is_never_taken_for_the_engines() -> None:
    leased = app(("k1", "entra-broker billing 0a1b2c3d", "abc"))
    assert _current_key_id(config(), leased)[0] == ""
