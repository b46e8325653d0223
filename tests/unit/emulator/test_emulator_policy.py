"""Entra's password complexity rules as the emulator's Graph applies them."""

from __future__ import annotations

import pytest

from emulator.policy import complies
from plugin.passwords import generate_password

UPN = "alice@example.test"


@pytest.mark.parametrize(
    "password",
    [
        "Abcdefg1",  # lower, upper, digit: exactly 8
        "abcdefg!1",  # lower, symbol, digit
        "ABCDEFG 1",  # a blank counts as a symbol
        "Aa1!" * 64,  # 256, the maximum
        "Al1ce-Xyz",  # near the alias, not containing it
    ],
)
def test_accepted(password):
    assert complies(password, UPN)


@pytest.mark.parametrize(
    "password",
    [
        "Abcde1!",  # 7 characters
        "Aa1!" * 64 + "x",  # 257 characters
        "abcdefghij",  # one class
        "abcdefgh12",  # two classes
        "Xalice-99",  # contains the alias
        "xALICEx-99",  # contains the alias, case-insensitive
        "Pässword-1",  # outside the allowed characters
        "Tab\tPass-1",  # control character
    ],
)
def test_refused(password):
    assert not complies(password, UPN)


def test_short_aliases_are_not_checked():
    assert complies("Bo-Secret-1", "bo@example.test")
    assert not complies("Bob-Secret-1", "bob@example.test")


def test_the_engines_generated_passwords_always_comply():
    for _ in range(200):
        assert complies(generate_password(16, alias="alice"), UPN)
