"""Random ids (tokens, accessors, lease suffixes, request ids) and Vault's time format."""

from __future__ import annotations

import functools
import math
import os
import secrets
import string
import time

__all__ = ["new_request_id", "random_id", "rfc3339"]

_ALPHABET = string.ascii_letters + string.digits


def random_id(length: int = 24) -> str:
    """Base62 random text, as Vault's lease suffixes, accessors and token bodies."""
    # One urandom read per id, not one per character as secrets.choice does (24 system
    # calls per id showed in issue profiles). Bytes below 248 = 4 x 62 map evenly onto
    # the alphabet; the rest are dropped, so every character stays equally likely.
    found: list[str] = []
    while len(found) < length:
        found.extend(_ALPHABET[b % 62] for b in secrets.token_bytes(length * 2) if b < 248)
    return "".join(found[:length])


def rfc3339(epoch: float) -> str:
    """UTC time with sub-second digits and a Z, the way Vault prints times."""
    return f"{_utc_seconds(math.floor(epoch))}.{int((epoch % 1) * 1_000_000):06d}Z"


@functools.lru_cache(maxsize=4096)
def _utc_seconds(whole: int) -> str:
    # The same times are printed again and again (a lease's on every lookup), and
    # strftime is most of the cost: each whole second is formatted once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def new_request_id() -> str:
    """A random (version 4) UUID in its text form, as str(uuid.uuid4()) gives, without
    building a UUID object: one per request."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
