"""Log output: the standard text lines or JSON lines (Vault's `log_format`), and the levels.

Events carry their context as `extra=` fields (lease_id, role, mount, accessor, ...): the
JSON format writes them as keys beside hclog's `@timestamp`, `@level`, `@module` and
`@message`; the standard format appends them to the message as key=value.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "JsonFormatter",
    "LOG_LEVELS",
    "StandardFormatter",
    "record_fields",
    "setup_logging",
]

LOG_LEVELS = {
    "trace": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
# hclog's level names, which Vault's JSON logs use.
_HCLOG_LEVELS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}
# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_NOISY_LIBRARIES = ("msal", "httpx", "httpcore", "urllib3", "aiohttp.access")


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` fields of a record, in the order they were given."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in _STANDARD_ATTRS and not key.startswith("_")
    }


def _shown(value: Any) -> str:
    text = str(value)
    if text == "" or any(c.isspace() or c in '="' for c in text):
        return json.dumps(text)
    return text


class StandardFormatter(logging.Formatter):
    """`time [LEVEL] module: message key=value ...`, for people reading a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s [%(levelname)s] %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        line = super().formatMessage(record)
        return line + "".join(f" {key}={_shown(value)}" for key, value in fields.items())


class JsonFormatter(logging.Formatter):
    """One JSON object per line, in the shape of Vault's `log_format = "json"` (hclog)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds")
        line: dict[str, Any] = {
            "@timestamp": stamp,
            "@level": _HCLOG_LEVELS.get(record.levelno, record.levelname.lower()),
            "@module": record.name,
            "@message": record.getMessage(),
        }
        for key, value in record_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def setup_logging(level: str, log_format: str = "standard", stream: TextIO | None = None) -> None:
    """Configure the root logger once for the process (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else StandardFormatter())
    logging.basicConfig(
        level=LOG_LEVELS.get(level.lower(), logging.INFO), handlers=[handler], force=True
    )
    # Libraries that log request details (msal can log token responses at debug) stay
    # at warning whatever the level: our own loggers say what happened, without secrets.
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
