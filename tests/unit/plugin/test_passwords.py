"""Password generation (plugin/passwords.py)."""

from __future__ import annotations

from collections import Counter

import pytest

from plugin.passwords import (
    ALPHABET,
    DEFAULT_LENGTH,
    DIGITS,
    LOWER,
    MAX_LENGTH,
    MIN_LENGTH,
    SYMBOLS,
    UPPER,
    alias_of,
    generate_password,
)


def test_default_length_and_all_four_classes_every_time():
    for _ in range(2000):
        password = generate_password()
        assert len(password) == DEFAULT_LENGTH
        for group in (LOWER, UPPER, DIGITS, SYMBOLS):
            assert any(c in group for c in password), password
        assert set(password) <= set(ALPHABET)


@pytest.mark.parametrize("length", [MIN_LENGTH, 17, 64, MAX_LENGTH])
def test_length_is_configurable(length):
    assert len(generate_password(length)) == length


@pytest.mark.parametrize("length", [0, 4, MIN_LENGTH - 1, MAX_LENGTH + 1])
def test_length_outside_limits_is_refused(length):
    with pytest.raises(ValueError, match="between 16 and 256"):
        generate_password(length)


def test_symbols_are_shell_and_template_safe():
    for bad in "'\"\\$`{} &|;<>()":
        assert bad not in ALPHABET


def test_never_contains_the_alias_in_any_case():
    # A short alias from common letters would appear in ~1 of 1,700 draws if unchecked.
    for _ in range(5000):
        assert "abc" not in generate_password(MIN_LENGTH * 2, alias="aBc").lower()


def test_aliases_shorter_than_three_characters_are_not_checked():
    # Entra ignores them too; checking would make "a" impossible to satisfy.
    assert len(generate_password(alias="a")) == DEFAULT_LENGTH


def test_alias_of_upn():
    assert alias_of("alice@contoso.com") == "alice"
    assert alias_of("guest_x.com#EXT#@contoso.onmicrosoft.com") == "guest_x.com#EXT#"
    assert alias_of("noat") == "noat"


def test_passwords_are_random():
    drawn = {generate_password() for _ in range(1000)}
    assert len(drawn) == 1000
    # Every character of the alphabet shows up, at every position some of the time.
    joined = "".join(drawn)
    assert set(joined) == set(ALPHABET)
    first = {p[0] for p in drawn}
    assert first & set(SYMBOLS) and first & set(DIGITS) and first & set(UPPER)


def test_every_character_of_a_class_is_equally_likely():
    # Letters whose alphabet index is below 256 % 74 = 34 (A-H among upper case) would
    # come up a third more often than I-Z if a byte were taken modulo 74 unchecked.
    counts = Counter("".join(generate_password() for _ in range(2000)))
    early = sum(counts[c] for c in UPPER[:8]) / 8
    late = sum(counts[c] for c in UPPER[8:]) / 18
    assert 0.93 < early / late < 1.07, (early, late)
    assert set(counts) == set(ALPHABET)
