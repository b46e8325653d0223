"""Log lines on stderr as hclog JSON, so OpenBao's log shows them at their own level.

go-plugin's host reads the plugin's stderr line by line; a JSON line with `@level` and
`@message` is logged at that level under the plugin's name, any other line at debug
only (so a plain "INFO" line would vanish from a default OpenBao log).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

__all__ = ["HclogFormatter", "setup_logging"]

_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}


class HclogFormatter(logging.Formatter):
    """One JSON object per record; a traceback stays inside the message (one line)."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        stamp = datetime.fromtimestamp(record.created, UTC)
        return json.dumps(
            {
                "@level": _LEVELS.get(record.levelno, "info"),
                "@message": message,
                # go-plugin parses exactly this layout (Go's 2006-01-02T15:04:05.000000Z07:00).
                "@timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "logger": record.name,
            },
            ensure_ascii=False,
        )


# Libraries that log every HTTP call at info: one stderr line each, parsed by OpenBao,
# was a measurable share of the plugin's CPU per credential.
_NOISY_LIBRARIES = ("msal", "httpx", "httpcore", "urllib3", "grpclib")


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(HclogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if root.level > logging.DEBUG:
        for name in _NOISY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.WARNING)
