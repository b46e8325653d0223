"""Handing freed memory back to the system after loading a big store."""

from __future__ import annotations

import ctypes

__all__ = ["return_freed_memory"]


def return_freed_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc; a no-op elsewhere).

    Loading a big store allocates and frees the text of every entry (parsing, then
    decrypting); glibc keeps those pages (40 MB after 100,000 leases) unless asked.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
