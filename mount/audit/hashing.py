"""HMAC-SHA256 of audited values with a per-device key, as Vault's salted audit hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Collection
from typing import Any

__all__ = ["HMAC_PREFIX", "AuditHasher", "new_hmac_key"]

HMAC_PREFIX = "hmac-sha256:"
_KEY_BYTES = 32


def new_hmac_key() -> str:
    """A fresh random device key, as base64 text for storage (sealed by the barrier)."""
    return base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode("ascii")


class AuditHasher:
    """Hashes strings into `hmac-sha256:<hex>` with one device's key."""

    __slots__ = ("_key",)

    def __init__(self, key: str) -> None:
        self._key = base64.b64decode(key, validate=True)
        if len(self._key) != _KEY_BYTES:
            raise ValueError(f"an audit HMAC key must be {_KEY_BYTES} bytes")

    def __repr__(self) -> str:
        return "AuditHasher(key=<redacted>)"

    def hash(self, value: str) -> str:
        """The digest of one string; `sys/audit-hash` answers with exactly this."""
        # Lone surrogates (from a non-UTF-8 header) are hashed, never a reason to fail.
        data = value.encode("utf-8", "surrogatepass")
        return HMAC_PREFIX + hmac.new(self._key, data, hashlib.sha256).hexdigest()

    def hash_structure(self, value: Any, sensitive: Collection[str] = ()) -> Any:
        """A copy of a JSON value with every string value hashed, recursively.

        Map keys stay readable; numbers, booleans and null pass through, except under a
        top-level key in `sensitive` (a field its path declares sensitive), whose value is
        hashed whole whatever its type. Strings shaped like times are hashed too: a
        password may look like one. The walk uses its own stack: a body nested as deep as
        the JSON decoder allows must not fail here.
        """
        root: list[Any] = [value]
        # (container, key or index) slots still to fill in the copy.
        pending: list[tuple[Any, Any]] = [(root, 0)]
        if sensitive and isinstance(value, dict):
            top = dict(value)
            root[0] = top
            pending = []
            for key, item in top.items():
                if key in sensitive and item is not None:
                    top[key] = self.hash(_text(item))
                else:
                    pending.append((top, key))
        while pending:
            holder, slot = pending.pop()
            item = holder[slot]
            if isinstance(item, str):
                holder[slot] = self.hash(item)
            elif isinstance(item, dict):
                copy = dict(item)
                holder[slot] = copy
                pending.extend((copy, key) for key in copy)
            elif isinstance(item, list | tuple):
                listed = list(item)
                holder[slot] = listed
                pending.extend((listed, index) for index in range(len(listed)))
        return root[0]


def _text(value: Any) -> str:
    """A sensitive value of any JSON type as one string to hash."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    except (RecursionError, ValueError):
        return "<a value nested too deep to print>"
