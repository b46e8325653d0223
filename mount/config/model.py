"""The server's settings as frozen dataclasses, with Vault's defaults, and their error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from mount.audit.device import DeclaredDevice
from mount.sdk.ratelimit import DEFAULT_ISSUE_INTERVAL, DEFAULT_ISSUE_LIMIT
from mount.startup import StartupError

__all__ = [
    "ConfigError",
    "DEFAULT_ADDRESS",
    "DEFAULT_LEASE_TTL",
    "ListenerConfig",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "ServerConfig",
    "StorageConfig",
]


LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error")


LOG_FORMATS = ("standard", "json")  # Vault's log_format values


DEFAULT_LEASE_TTL = timedelta(hours=768)  # Vault's 32 days


DEFAULT_ADDRESS = "127.0.0.1:8200"


class ConfigError(StartupError):
    """The config file cannot be used; the message is one sentence saying what to fix.

    `warnings` are those noticed before it: a misspelt key's "did you mean" is told
    before the error the misspelling causes (a `tls_disabel` makes TLS required).
    """

    def __init__(self, message: str, warnings: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.warnings = list(warnings)


DEFAULT_MAX_REQUEST_SIZE = 1024 * 1024


DEFAULT_MAX_CONNECTIONS = 1024


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """`listener "tcp" { ... }`: where the API listens, and its TLS files."""

    address: str = DEFAULT_ADDRESS
    tls_disable: bool = False
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_min_version: str = "tls12"
    # Largest request body accepted, in bytes (Vault's listener option of the same name).
    max_request_size: int = DEFAULT_MAX_REQUEST_SIZE
    # Vault's listener timeouts, in seconds, with Vault's defaults.
    http_read_header_timeout: float = 10.0
    http_read_timeout: float = 30.0
    http_idle_timeout: float = 300.0
    # Open connections at most (ours: Vault has no such bound); 0: no limit.
    max_connections: int = DEFAULT_MAX_CONNECTIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class StorageConfig:
    """`storage "tinydb" { path = ... }` (or "log"): the directory or file holding all state
    (mount/storage/open.py reads which); `directory` when the path was written ending in /."""

    type: str = "tinydb"
    path: Path
    directory: bool = False


DEFAULT_ROLE_ISSUE_LIMIT = DEFAULT_ISSUE_LIMIT
DEFAULT_ROLE_ISSUE_INTERVAL = timedelta(seconds=DEFAULT_ISSUE_INTERVAL)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """The whole config file; relative paths are already resolved against its directory."""

    listener: ListenerConfig
    storage: StorageConfig
    default_lease_ttl: timedelta = DEFAULT_LEASE_TTL
    max_lease_ttl: timedelta = DEFAULT_LEASE_TTL
    log_level: str = "info"
    log_format: str = "standard"
    seal_key_file: Path | None = None
    api_addr: str | None = None
    # At most role_issue_limit credentials per role within role_issue_interval; 0: off.
    role_issue_limit: int = DEFAULT_ROLE_ISSUE_LIMIT
    role_issue_interval: timedelta = DEFAULT_ROLE_ISSUE_INTERVAL
    # Most active leases per role and per mount (Vault's lease-count quota); 0: no limit.
    max_leases_per_role: int = 0
    max_leases_per_mount: int = 0
    # `audit "file" "<path>" { ... }` stanzas, in file order.
    audit: tuple[DeclaredDevice, ...] = ()
