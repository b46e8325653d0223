"""The one root of every error that stops the server before or while it starts.

Each says in one sentence what is missing or broken; the command line prints it as
`Error: <sentence>` and exits 1, never with a traceback.
"""

from __future__ import annotations

__all__ = ["StartError", "StartupError"]


class StartupError(Exception):
    """A start that cannot go on: a bad config, a port in use, a missing or broken part."""


class StartError(StartupError):
    """A part of the server (storage, seal key, lease log, audit file) is missing or broken."""
