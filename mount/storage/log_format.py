"""The log store's file format: a header line, then one JSON line per batch.

    {"format": "entra-broker-log", "version": 1, "seal_fingerprint": "..." | null}
    {"w": {"<key>": <value or sealed text>, "<deleted key>": null, ...}}
    ...

Unsealed values go in as JSON, sealed ones as their sealed text (a JSON string). A cold
value (see LogStore) is held in memory as its place in the file: one int, the offset
shifted left by LENGTH_BITS plus the length.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "FORMAT",
    "LENGTH_BITS",
    "LENGTH_MASK",
    "VERSION",
    "ForeignFileError",
    "LogFormatError",
    "batch_line",
    "cold_places",
    "dumps",
    "header_line",
    "read_batch",
    "read_header",
    "stored_length",
]

FORMAT = "entra-broker-log"
VERSION = 1
LENGTH_BITS = 24
LENGTH_MASK = (1 << LENGTH_BITS) - 1


class LogFormatError(Exception):
    """A line that is not what the format says; the message says what is wrong."""


class ForeignFileError(LogFormatError):
    """The header is JSON but not this format's: some other file."""


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def stored_length(stored: str | int) -> int:
    """The length of a stored text, whether held in memory or as its place in the file."""
    return stored & LENGTH_MASK if isinstance(stored, int) else len(stored)


def header_line(fingerprint: str | None) -> bytes:
    header = {"format": FORMAT, "version": VERSION, "seal_fingerprint": fingerprint}
    return (dumps(header) + "\n").encode("utf-8")


def batch_line(stored: Mapping[str, str | None], *, sealed: bool) -> bytes:
    """One batch line of stored texts (None: a delete)."""
    if sealed:
        return (dumps({"w": stored}) + "\n").encode("utf-8")
    parts = [f"{dumps(key)}:{'null' if text is None else text}" for key, text in stored.items()]
    return ('{"w":{' + ",".join(parts) + "}}\n").encode("utf-8")


def cold_places(
    line: bytes, base: int, stored: Mapping[str, Any], cold: tuple[str, ...]
) -> dict[str, int]:
    """Where each cold value of a sealed line (starting at file offset `base`) lies."""
    places: dict[str, int] = {}
    if not cold:
        return places
    position = 0
    for key, text in stored.items():
        if (
            not isinstance(text, str)
            or not key.startswith(cold)
            or len(text) > LENGTH_MASK
            or not text.isascii()
        ):
            continue
        # Sealed text is base64 with a version prefix: JSON writes it unescaped.
        needle = b'"' + text.encode("ascii") + b'"'
        found = line.find(needle, position)
        if found < 0:
            continue
        places[key] = (base + found + 1) << LENGTH_BITS | len(text)
        position = found + len(needle)
    return places


def read_header(line: bytes) -> Any:
    """The seal fingerprint a header line holds."""
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise LogFormatError(f"header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ForeignFileError("not an entra-broker log storage file")
    return header.get("seal_fingerprint")


def read_batch(line: bytes) -> dict[str, Any]:
    """The writes of one batch line: key to value (or sealed text), None for a delete."""
    try:
        record = json.loads(line)
        writes = record["w"]
        if not isinstance(writes, dict):
            raise TypeError("w is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise LogFormatError(str(exc)) from None
    return writes
