"""The `file` audit device: its options, and appending durable lines off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import stat
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from mount.audit.entries import AuditEvent, FormatOptions, format_event
from mount.audit.hashing import AuditHasher
from mount.sdk.errors import InvalidRequestError, VaultError

__all__ = [
    "DEVICE_TYPES",
    "AuditWriteError",
    "DeclaredDevice",
    "FileDevice",
    "FileOptions",
    "check_audit_file",
]

logger = logging.getLogger(__name__)

DEVICE_TYPES = ("file",)
STDOUT = "stdout"
DISCARD = "discard"
_OPTIONS = (
    "file_path",
    "format",
    "hmac_accessor",
    "log_raw",
    "elide_list_responses",
    "mode",
    "prefix",
    "skip_test",
)
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


@dataclass(frozen=True, slots=True)
class DeclaredDevice:
    """An `audit "<type>" "<path>" { ... }` stanza of the config file."""

    type: str
    path: str
    description: str = ""
    options: Mapping[str, str] = field(default_factory=dict)


class AuditWriteError(Exception):
    """A device could not record a line; the message names the file, never the line."""


def _bool(options: Mapping[str, str], name: str, default: bool, problems: list[str]) -> bool:
    value = options.get(name)
    if value is None or value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    problems.append(f'option {name}: "{value}" is not a boolean; use true or false')
    return default


@dataclass(frozen=True, slots=True)
class FileOptions:
    """A file device's options (Vault's names); `mode` 0 leaves the file's mode alone."""

    file_path: str
    mode: int = 0o600
    hmac_accessor: bool = True
    elide_list_responses: bool = False
    prefix: str = ""

    @property
    def format(self) -> FormatOptions:
        return FormatOptions(self.hmac_accessor, self.elide_list_responses, self.prefix)

    @classmethod
    def parse(cls, options: Mapping[str, str], *, from_config: bool = False) -> FileOptions:
        """Validate the options map; one 400 lists every problem.

        `prefix` is accepted only from the config file: through the API it would let a
        caller write text of their choosing into any file the server can write
        (OpenBao gates it the same way).
        """
        problems: list[str] = []
        unknown = sorted(set(options) - set(_OPTIONS) - {"path"})
        if unknown:
            problems.append(
                f"unknown option(s) {', '.join(unknown)}; the file device takes "
                f"{', '.join(_OPTIONS)}"
            )
        # `path` is the deprecated spelling Vault still reads.
        file_path = options.get("file_path") or options.get("path") or ""
        if not file_path:
            problems.append("file_path is required")
        elif file_path.lower() in (STDOUT, DISCARD):
            file_path = file_path.lower()
        elif not os.path.isabs(file_path):
            problems.append(f'file_path "{file_path}" must be an absolute path')
        if options.get("format", "json") not in ("", "json"):
            problems.append(f'unknown format type "{options["format"]}"; use json')
        if _bool(options, "log_raw", False, problems):
            problems.append(
                "log_raw is not supported: entra-broker never writes tokens, passwords or "
                "client secrets in clear; remove the option or set it to false"
            )
        prefix = options.get("prefix", "")
        if prefix and not from_config:
            problems.append("prefix can only be set on an audit device declared in the config file")
        mode = _mode(options.get("mode"), problems)
        hmac_accessor = _bool(options, "hmac_accessor", True, problems)
        elide = _bool(options, "elide_list_responses", False, problems)
        _bool(options, "skip_test", False, problems)
        if problems:
            raise InvalidRequestError(errors=problems)
        return cls(file_path, mode, hmac_accessor, elide, prefix)


def _mode(raw: str | None, problems: list[str]) -> int:
    if raw is None or raw == "":
        return 0o600
    try:
        mode = int(raw, 8)
    except ValueError:
        problems.append(f'option mode: "{raw}" is not an octal file mode such as 0600')
        return 0o600
    if not 0 <= mode <= 0o777:
        problems.append(f'option mode: "{raw}" is not a file permission mode (0000 to 0777)')
        return 0o600
    # Never create an executable file (OpenBao's fix for CVE-2025-6000).
    return mode & ~0o111


# How the first line of an audit log starts, ours and Vault's alike (after the device's
# prefix, if any): compact JSON with `time` then `type`. A prefix of the line, searched.
_AUDIT_LINE = re.compile(rb'\{"time":"[^"\\]*","type":"(?:request|response)"')
_HEAD_BYTES = 64 * 1024


def check_audit_file(file_path: str, reserved: Mapping[Path, str]) -> None:
    """Refuse a `file_path` the device must not append to: one of `reserved` (the
    storage's files and the seal key, each with what it is), or an existing file that is
    not an audit log. Appending to either would corrupt it; an empty file, or an audit
    log of ours or Vault's, may be written. Blocking: call it off the event loop, or
    before serving.
    """
    if not file_path or file_path.lower() in (STDOUT, DISCARD):
        return
    what = _reserved_as(file_path, reserved) or _not_an_audit_log(file_path)
    if what:
        raise InvalidRequestError(
            f'file_path "{file_path}" {what}; an audit device needs a file of its own'
        )


def _reserved_as(file_path: str, reserved: Mapping[Path, str]) -> str:
    """What the path is among the reserved files, through links too; "" if none."""
    target = os.path.realpath(file_path)
    try:
        found = os.stat(file_path)
    except OSError:
        found = None
    for path, what in reserved.items():
        if os.path.realpath(path) == target:
            return f"is {what}"
        if found is None:
            continue
        try:
            other = os.stat(path)
        except OSError:
            continue
        if (other.st_dev, other.st_ino) == (found.st_dev, found.st_ino):  # a hard link
            return f"is {what}"
    return ""


def _not_an_audit_log(file_path: str) -> str:
    """Why an existing regular file is not an audit log; "" when it is one or is empty,
    missing, or not a regular file (a terminal, a pipe: nothing in it to spoil)."""
    try:
        # Non-blocking: opening a FIFO to read would wait for a writer.
        fd = os.open(file_path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return ""  # missing, or unreadable: opening it to write tells the rest
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        head = os.read(fd, _HEAD_BYTES)
    except OSError:
        return ""
    finally:
        os.close(fd)
    if not head or _AUDIT_LINE.search(head.split(b"\n", 1)[0]):
        return ""
    return "is an existing file that is not an audit log"


class FileDevice:
    """Appends lines to one file through a single writer thread.

    `log` returns once the line is written and fdatasync'ed: a request is served only
    after its record would survive a crash of the process or of the machine, the same
    durability as the lease storage. Lines arriving while a write is under way are
    written together by the next one (group commit), so concurrent requests share one
    sync. Before each write the path is checked: if the file was moved or deleted
    (rotation) it is reopened, and if it cannot be (a directory in its place, no
    permission) the write fails and so does every request waiting on it.
    """

    def __init__(
        self,
        name: str,
        options: FileOptions,
        hasher: AuditHasher,
        reserved: Mapping[Path, str] | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self.hasher = hasher
        self._reserved = dict(reserved or {})
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._pending: list[tuple[AuditEvent, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"FileDevice(name={self.name!r}, file_path={self.options.file_path!r})"

    async def open(self) -> None:
        """Open the file now, so a bad path is refused when the device is enabled."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._sanity_check)

    async def log(self, event: AuditEvent) -> None:
        """Record one event; raises AuditWriteError if it could not be made durable."""
        if self._closed:
            raise AuditWriteError(f"audit device {self.name} is disabled")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((event, done))
        if self._writer is None:
            self._writer = loop.create_task(self._write_pending())
        # Shielded: a cancelled caller stops waiting, but its line is still written.
        await asyncio.shield(done)

    async def close(self) -> None:
        """Finish the pending writes, then release the file and the thread."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writer)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._close_file)
        finally:
            self._executor.shutdown(wait=False)

    # -- loop side ------------------------------------------------------------------

    async def _write_pending(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                events = [event for event, _ in batch]
                try:
                    failures = await loop.run_in_executor(self._executor, self._write, events)
                except Exception as exc:
                    failures = [_as_write_error(self.name, exc)] * len(batch)
                for (_, done), failure in zip(batch, failures, strict=True):
                    if done.done():
                        continue
                    if failure is None:
                        done.set_result(None)
                    else:
                        done.set_exception(failure)
        finally:
            self._writer = None

    # -- writer thread side -----------------------------------------------------------

    def _write(self, events: list[AuditEvent]) -> list[AuditWriteError | None]:
        """Format and append a batch; per-event format failures, or one write failure."""
        failures: list[AuditWriteError | None] = []
        lines: list[bytes] = []
        for event in events:
            try:
                lines.append(format_event(event, self.hasher, self.options.format))
                failures.append(None)
            except (TypeError, ValueError, RecursionError) as exc:
                logger.error("audit entry not formatted device=%s error=%s", self.name, exc)
                failures.append(AuditWriteError(f"audit device {self.name}: bad entry"))
        if lines:
            self._append(b"".join(lines))
        return failures

    def _append(self, data: bytes) -> None:
        path = self.options.file_path
        if path == DISCARD:
            return
        if path == STDOUT:
            sys.stdout.write(data.decode("utf-8", "replace"))
            sys.stdout.flush()
            return
        fd = self._current_fd()
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if stat.S_ISREG(os.fstat(fd).st_mode):
                os.fdatasync(fd)
        except OSError:
            # The next write reopens the file rather than trusting this descriptor.
            self._close_file()
            raise

    def _current_fd(self) -> int:
        """The open file, reopened when the path no longer names it."""
        path = self.options.file_path
        if self._fd is not None:
            try:
                found = os.stat(path)
            except FileNotFoundError:
                found = None
            if found is not None and (found.st_dev, found.st_ino) == self._identity:
                return self._fd
            self._close_file()
        # Checked at every open, rotation included: a path that came to name the seal
        # key or a storage file must never be appended to.
        check_audit_file(path, self._reserved)
        os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        fd = os.open(path, flags, self.options.mode or 0o600)
        try:
            info = os.fstat(fd)
            if self.options.mode and stat.S_ISREG(info.st_mode):
                os.fchmod(fd, self.options.mode)
        except OSError:
            os.close(fd)
            raise
        self._fd, self._identity = fd, (info.st_dev, info.st_ino)
        return fd

    def _sanity_check(self) -> None:
        if self.options.file_path in (STDOUT, DISCARD):
            return
        try:
            self._current_fd()
        except OSError as exc:
            raise InvalidRequestError(
                f'sanity check failed; unable to open "{self.options.file_path}" for '
                f"writing: {exc.strerror}"
            ) from None

    def _close_file(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd, self._identity = None, None


def _as_write_error(name: str, exc: Exception) -> AuditWriteError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    if isinstance(exc, VaultError):  # check_audit_file's refusal: its sentence
        reason = exc.message
    logger.error("audit device failed to write device=%s error=%s", name, reason)
    return AuditWriteError(f"audit device {name} could not write: {reason}")
