"""What the file stores share on disk: atomic replacement, directory fsync, the lock file
held while a store is open, and the seal fingerprint check."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from mount.sdk.storage import StorageError

__all__ = ["check_seal", "fsync_dir", "hold_lock", "lock_path", "replacing", "temp_path"]


def lock_path(path: Path) -> Path:
    """The lock file of a store's file (see hold_lock)."""
    return path.with_name(path.name + ".lock")


def temp_path(path: Path) -> Path:
    """Where a store writes the next version of its file before renaming it into place."""
    return path.with_name(path.name + ".tmp")


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[BinaryIO]:
    """Write the next version of `path`, whole or not at all.

    The body writes to `<path>.tmp`; on leaving, it is fsynced, renamed over `path` and
    the directory fsynced, so after a crash the file is the old or the new version. On
    failure the temp file is removed and an OSError becomes a StorageError.
    """
    temp = temp_path(path)
    try:
        # A stale temp file from a crash may have other owners or modes: start afresh.
        temp.unlink(missing_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StorageError(f"cannot write storage file {path}: {exc.strerror or exc}") from exc
        raise


def hold_lock(path: Path) -> int:
    """Hold an exclusive lock on `<path>.lock` while the store is open; returns its fd.

    Each open store keeps the whole document in memory, so two processes on one file
    would silently undo each other's writes. The kernel drops the lock when the
    process dies, even by `kill -9`.
    """
    lock = lock_path(path)
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot open storage lock file {lock}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StorageError(
            f"storage file {path} is in use by another entra-broker process; stop it first"
        ) from None
    return fd


def check_seal(path: Path, stored: Any, wanted: str | None) -> None:
    """Refuse a store whose seal fingerprint is not the one of the key we were given."""
    if stored == wanted:
        return
    if stored is None:
        raise StorageError(
            f"storage file {path} was created without a seal key and cannot be opened with one"
        )
    if wanted is None:
        raise StorageError(f"storage file {path} is sealed; a seal key is required to open it")
    raise StorageError(
        "the seal key does not match the one this storage was created with; set "
        "ENTRA_BROKER_SEAL_KEY or the key file back to the original key"
    )
