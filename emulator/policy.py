"""Entra's password rules for cloud-only users, as Graph enforces them on a reset."""

from __future__ import annotations

import string

__all__ = ["MAX_LENGTH", "MIN_LENGTH", "SYMBOLS", "complies"]

MIN_LENGTH = 8
MAX_LENGTH = 256
# The symbols Entra lists as allowed, plus the blank space; anything else (letters
# outside ASCII, control characters) is refused.
SYMBOLS = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> "
_MIN_ALIAS = 3  # a shorter alias is not checked, as in AD

_CLASSES = (
    frozenset(string.ascii_lowercase),
    frozenset(string.ascii_uppercase),
    frozenset(string.digits),
    frozenset(SYMBOLS),
)
_ALLOWED = frozenset().union(*_CLASSES)


def complies(password: str, user_principal_name: str) -> bool:
    """True when `password` meets Entra's complexity rules for this user.

    8-256 characters from the allowed set, at least 3 of the 4 classes (lowercase,
    uppercase, digit, symbol), and not containing the UPN's alias (the part before `@`,
    case-insensitive) when that alias has 3 or more characters.
    """
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return False
    if not set(password) <= _ALLOWED:
        return False
    if sum(1 for chars in _CLASSES if chars.intersection(password)) < 3:
        return False
    alias = user_principal_name.split("@", 1)[0].lower()
    return not (len(alias) >= _MIN_ALIAS and alias in password.lower())
