"""Random passwords that satisfy Entra's rules, drawn with `secrets`."""

from __future__ import annotations

import secrets
import string

__all__ = [
    "ALPHABET",
    "DEFAULT_LENGTH",
    "DIGITS",
    "LOWER",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "SYMBOLS",
    "UPPER",
    "alias_of",
    "generate_password",
]

LOWER = string.ascii_lowercase
UPPER = string.ascii_uppercase
DIGITS = string.digits
# Symbols Entra accepts that survive shells, env files, URLs-in-quotes and Go/Jinja
# templates unescaped: no quotes, backslash, `$`, backtick, braces, spaces or `&|;<>`.
SYMBOLS = "-_.~!*@#%^+="
ALPHABET = LOWER + UPPER + DIGITS + SYMBOLS

DEFAULT_LENGTH = 32
MIN_LENGTH = 16
MAX_LENGTH = 256  # Entra's own limit for cloud-only users.

# Entra (like AD) only refuses the alias inside a password when it has 3+ characters.
_MIN_ALIAS = 3
# A 3-letter alias turns up in roughly 1 of 1,700 draws of 32 characters (case folded);
# the cap only stops a pathological alias from looping forever.
_MAX_DRAWS = 1000


def alias_of(user_principal_name: str) -> str:
    """The part of a UPN before `@`, which a password must not contain."""
    return user_principal_name.split("@", 1)[0]


def generate_password(length: int = DEFAULT_LENGTH, *, alias: str = "") -> str:
    """A password of `length` characters with a lowercase letter, an uppercase letter,
    a digit and a symbol, that does not contain `alias` (case-insensitive).

    Raises ValueError for a length outside MIN_LENGTH..MAX_LENGTH.
    """
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValueError(f"password length must be between {MIN_LENGTH} and {MAX_LENGTH}")
    banned = alias.lower() if len(alias) >= _MIN_ALIAS else ""
    for _ in range(_MAX_DRAWS):
        candidate = _draw(length)
        if not banned or banned not in candidate.lower():
            return candidate
    raise ValueError("could not generate a password that avoids the user's alias")


def _draw(length: int) -> str:
    """One character of each class, the rest from the whole alphabet, then shuffled."""
    draw = _Indices()
    chars = [group[draw.below(len(group))] for group in (LOWER, UPPER, DIGITS, SYMBOLS)]
    chars += [ALPHABET[draw.below(len(ALPHABET))] for _ in range(length - len(chars))]
    # Fisher-Yates with the OS CSPRNG, so the guaranteed characters sit anywhere.
    for i in range(len(chars) - 1, 0, -1):
        j = draw.below(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


class _Indices:
    """Uniform indices from OS randomness read 64 bytes at a time.

    secrets.choice and secrets.randbelow read the OS once per index: ~100 reads for a
    32-character password. A byte at or above the largest multiple of n below 256 is
    thrown away, so every index below n is equally likely (no modulo bias).
    """

    def __init__(self) -> None:
        self._bytes = b""
        self._next = 0

    def below(self, n: int) -> int:
        if not 0 < n <= 256:
            raise ValueError("an index range must hold 1 to 256 values")
        limit = 256 - 256 % n
        while True:
            if self._next >= len(self._bytes):
                self._bytes, self._next = secrets.token_bytes(64), 0
            byte = self._bytes[self._next]
            self._next += 1
            if byte < limit:
                return byte % n
