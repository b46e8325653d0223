"""Opening the physical store a config names: `storage "tinydb"` or `storage "log"`, in a
directory (Vault's convention) or, as before, at a file path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mount.storage.barrier import Barrier
from mount.storage.log import LogStore
from mount.storage.split import SplitStore, leases_path
from mount.storage.store import StorageError, lock_path, temp_path

__all__ = ["DATA_FILES", "STORE_KINDS", "StorageLayout", "open_store", "storage_layout"]

STORE_KINDS = ("tinydb", "log")
# The database file inside a storage directory, per kind. Different names, so that a
# directory of one kind is recognised (and refused) when opened as the other.
DATA_FILES = {"tinydb": "broker.db", "log": "broker.log"}
SEAL_KEY_FILE = "seal.key"


def open_store(kind: str, path: Path, barrier: Barrier | None) -> SplitStore | LogStore:
    """The store of that kind on the database file `path`; raises StorageError for an
    unknown kind.

    `tinydb` is TinyDB for configuration with leases and tokens in a log beside it
    (see mount/storage/split.py); `log` is everything in one log.
    """
    if kind == "tinydb":
        return SplitStore(path, barrier)
    if kind == "log":
        return LogStore(path, barrier)
    raise StorageError(f"unknown storage type {kind!r}; use one of {', '.join(STORE_KINDS)}")


@dataclass(frozen=True, slots=True)
class StorageLayout:
    """Where a store's files are: `data` is its database file, in `directory` when the
    config's `path` named a directory (None: `path` is the database file itself)."""

    kind: str
    data: Path
    directory: Path | None = None

    @property
    def home(self) -> Path:
        """The directory holding the files, and by default the seal key."""
        return self.directory if self.directory is not None else self.data.parent

    @property
    def default_seal_key_file(self) -> Path:
        return self.home / SEAL_KEY_FILE

    def files(self) -> dict[Path, str]:
        """Every file the store writes, with what it is (for the audit device's check)."""
        found = {
            self.data: "the storage file",
            lock_path(self.data): "a storage lock file",
            temp_path(self.data): "a storage temporary file",
        }
        if self.kind == "tinydb":
            log = leases_path(self.data)
            found[log] = "the storage's lease log"
            found[lock_path(log)] = "a storage lock file"
            found[temp_path(log)] = "a storage temporary file"
        return found

    def in_use(self) -> bool:
        """Whether the store was created already (its database or its lease log exists)."""
        paths = [self.data, leases_path(self.data)] if self.kind == "tinydb" else [self.data]
        return any(path.exists() for path in paths)

    def open(self, barrier: Barrier | None) -> SplitStore | LogStore:
        return open_store(self.kind, self.data, barrier)


def storage_layout(kind: str, path: Path, *, directory: bool = False) -> StorageLayout:
    """The layout for a config's storage `path`, read as Vault reads it: an existing
    directory, or a path written as one (`directory`: it ended in `/`), holds the files;
    any other path is the database file itself, as it always was.

    Raises StorageError for a layout that cannot be right.
    """
    if kind not in DATA_FILES:
        raise StorageError(f"unknown storage type {kind!r}; use one of {', '.join(STORE_KINDS)}")
    if path.is_dir() or (directory and not path.exists()):
        _check_kind_of_directory(kind, path)
        return StorageLayout(kind, path / DATA_FILES[kind], path)
    if directory:
        raise StorageError(
            f"the storage path {path}/ names a directory, but {path} is a file; write the "
            "path without the final / to use that file, or name a directory"
        )
    return StorageLayout(kind, path)


def _check_kind_of_directory(kind: str, directory: Path) -> None:
    """Refuse a directory holding the other kind's database: opening it as this kind
    would start an empty store beside the real one (and print a new root token)."""
    if (directory / DATA_FILES[kind]).exists():
        return
    for other, name in DATA_FILES.items():
        if other != kind and (directory / name).exists():
            raise StorageError(
                f'the storage directory {directory} holds a storage "{other}" database '
                f'({name}), not a storage "{kind}" one; set the storage type back to '
                f'"{other}", or use another directory'
            )
