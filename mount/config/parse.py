"""The server's HCL config file, with Vault's stanza names, read into frozen dataclasses."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from mount.audit.device import DEVICE_TYPES, DISCARD, STDOUT, DeclaredDevice, FileOptions
from mount.config.hcl import BLOCK_MARK, META_KEYS, HCLSyntaxError, parse_document
from mount.config.hcl import label as unquote_label
from mount.sdk.durations import DurationError, format_duration, parse_duration
from mount.sdk.errors import VaultError
from mount.startup import StartupError

__all__ = [
    "ConfigError",
    "ListenerConfig",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "ServerConfig",
    "StorageConfig",
    "load_config",
    "parse_config",
]

LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error")
LOG_FORMATS = ("standard", "json")  # Vault's log_format values
DEFAULT_LEASE_TTL = timedelta(hours=768)  # Vault's 32 days
DEFAULT_ADDRESS = "127.0.0.1:8200"

# "log": the append-only store (mount/storage/log.py), for many leases; see docs/performance.md.
_STORAGE_TYPES = {"tinydb": "tinydb", "file": "tinydb", "log": "log"}
_LISTENER_KEYS = {
    "address",
    "tls_disable",
    "tls_cert_file",
    "tls_key_file",
    "tls_min_version",
    "max_request_size",
    "http_read_header_timeout",
    "http_read_timeout",
    "http_idle_timeout",
    "max_connections",
}
# Vault's names; TLS 1.0 and 1.1 are refused (broken, and off in current OpenSSL builds).
TLS_VERSIONS = ("tls12", "tls13")
_STORAGE_KEYS = {"path"}
_AUDIT_KEYS = {"description", "options"}
_TOP_LEVEL_KEYS = {
    "audit",
    "listener",
    "storage",
    "default_lease_ttl",
    "max_lease_ttl",
    "role_issue_limit",
    "role_issue_interval",
    "max_leases_per_role",
    "max_leases_per_mount",
    "log_level",
    "log_format",
    "seal_key_file",
    "api_addr",
}
# Vault server settings a ported config may hold: accepted, reported, not used.
_VAULT_ONLY_KEYS = {
    "administrative_namespace_path",
    "cache_size",
    "cluster_addr",
    "cluster_name",
    "default_max_request_duration",
    "detect_deadlocks",
    "disable_cache",
    "disable_clustering",
    "disable_mlock",
    "disable_performance_standby",
    "disable_printable_check",
    "disable_sealwrap",
    "disable_sentinel_trace",
    "enable_post_unseal_trace",
    "enable_response_header_hostname",
    "enable_response_header_raft_node_id",
    "enable_ui",
    "entropy",
    "experiments",
    "ha_storage",
    "imprecise_lease_role_tracking",
    "introspection_endpoint",
    "license_path",
    "log_file",
    "log_requests_level",
    "log_rotate_bytes",
    "log_rotate_duration",
    "log_rotate_max_files",
    "pid_file",
    "plugin_directory",
    "plugin_file_permissions",
    "plugin_file_uid",
    "plugin_tmpdir",
    "raw_storage_endpoint",
    "service_registration",
    "telemetry",
    "ui",
    "unsafe_allow_api_audit_creation",
    "user_lockout",
}
_BLOCK_MARK = BLOCK_MARK
_HCL_META = META_KEYS
_INT = re.compile(r"[+-]?\d+")


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


DEFAULT_ROLE_ISSUE_LIMIT = 30
DEFAULT_ROLE_ISSUE_INTERVAL = timedelta(minutes=1)


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


def load_config(path: Path) -> tuple[ServerConfig, list[str]]:
    """Read and parse the config file at `path`; returns the config and warnings."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config file {path}: it is not UTF-8 text") from None
    return parse_config(text, base_dir=Path(path).resolve().parent, source=str(path))


def parse_config(
    text: str, *, base_dir: Path, source: str = "the config"
) -> tuple[ServerConfig, list[str]]:
    """Parse HCL config text; relative paths resolve against `base_dir`.

    Returns the config and a list of warnings (Vault settings that are ignored).
    """
    document = _parse_hcl(text, source)
    warnings: list[str] = []
    try:
        config = _server_config(document, base_dir, warnings)
    except ConfigError as exc:
        raise ConfigError(str(exc), warnings) from None
    return config, warnings


def _server_config(document: dict[str, Any], base_dir: Path, warnings: list[str]) -> ServerConfig:
    for key in sorted(document):
        if key in _TOP_LEVEL_KEYS:
            continue
        if key == "seal":
            warnings.append(
                "seal: ignored; storage is encrypted with ENTRA_BROKER_SEAL_KEY or seal_key_file"
            )
        elif key in _VAULT_ONLY_KEYS:
            warnings.append(f"{key}: ignored; entra-broker does not use this Vault setting")
        else:
            raise ConfigError(f"{key}: unknown setting{_did_you_mean(key, _TOP_LEVEL_KEYS)}")

    listener = _listener(_one_block(document, "listener", 'listener "tcp"'), base_dir, warnings)
    storage = _storage(_one_block(document, "storage", 'storage "tinydb"'), base_dir, warnings)
    default_ttl = _duration(document, "default_lease_ttl")
    max_ttl = _duration(document, "max_lease_ttl")
    if not document.get("default_lease_ttl"):
        # Only a max was set: the built-in default follows it down rather than refusing.
        default_ttl = min(default_ttl, max_ttl)
    if default_ttl > max_ttl:
        raise ConfigError(
            f"default_lease_ttl ({format_duration(default_ttl)}) cannot exceed "
            f"max_lease_ttl ({format_duration(max_ttl)})"
        )
    log_level = _string(document, "log_level", "log_level")
    if log_level is None:
        log_level = "info"
    log_level = log_level.strip().lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f'log_level: "{log_level}" is not one of {", ".join(LOG_LEVELS)}')
    log_format = (_string(document, "log_format", "log_format") or "standard").strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f'log_format: "{log_format}" is not one of {", ".join(LOG_FORMATS)}')
    seal_key_file = _string(document, "seal_key_file", "seal_key_file")
    return ServerConfig(
        listener=listener,
        storage=storage,
        default_lease_ttl=default_ttl,
        max_lease_ttl=max_ttl,
        log_level=log_level,
        log_format=log_format,
        seal_key_file=None if not seal_key_file else base_dir / seal_key_file,
        api_addr=_string(document, "api_addr", "api_addr") or None,
        role_issue_limit=_count(document, "role_issue_limit", DEFAULT_ROLE_ISSUE_LIMIT),
        role_issue_interval=(
            _duration(document, "role_issue_interval", DEFAULT_ROLE_ISSUE_INTERVAL)
        ),
        max_leases_per_role=_count(document, "max_leases_per_role", 0),
        max_leases_per_mount=_count(document, "max_leases_per_mount", 0),
        audit=_audit_devices(document.get("audit"), base_dir, warnings),
    )


# -- HCL shapes ---------------------------------------------------------------------------


def _parse_hcl(text: str, source: str) -> dict[str, Any]:
    try:
        document = parse_document(text, source)
    except HCLSyntaxError as exc:
        raise ConfigError(str(exc)) from None
    return document


def _one_block(document: Mapping[str, Any], name: str, example: str) -> tuple[str, dict[str, Any]]:
    """The single labelled block `name "<label>" { ... }`: its label and its body."""
    raw = document.get(name)
    if raw is None:
        raise ConfigError(f"{name}: a {example} {{ ... }} block is required")
    blocks = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(b, dict) for b in blocks):
        raise ConfigError(f"{name}: must be a block, as in {example} {{ ... }}")
    if len(blocks) != 1:
        raise ConfigError(f"{name}: exactly one {name} block is supported, found {len(blocks)}")
    block = blocks[0]
    # A block without a label carries the marker itself; a labelled one is {label: body}.
    if _BLOCK_MARK in block or len(block) != 1:
        raise ConfigError(f"{name}: the block needs a type label, as in {example} {{ ... }}")
    label, body = next(iter(block.items()))
    if not isinstance(body, dict) or (
        _BLOCK_MARK not in body
        and any(isinstance(v, dict) and _BLOCK_MARK in v for v in body.values())
    ):
        raise ConfigError(f"{name}: the block takes one type label, as in {example} {{ ... }}")
    return unquote_label(str(label)), {k: v for k, v in body.items() if k not in _HCL_META}


def _listener(
    block: tuple[str, dict[str, Any]], base_dir: Path, warnings: list[str]
) -> ListenerConfig:
    kind, body = block
    where = f'listener "{kind}"'
    if kind != "tcp":
        raise ConfigError(f'{where}: unsupported listener type; only listener "tcp" is supported')
    if "http_write_timeout" in body:
        # Vault's, but not implemented (Vault's default is none): no "did you mean".
        warnings.append(f"{where}: http_write_timeout is ignored; responses have no timeout")
    _warn_unused(body, _LISTENER_KEYS | {"http_write_timeout"}, where, warnings)
    address = _string(body, "address", f"{where}: address") or DEFAULT_ADDRESS
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f'{where}: address "{address}" must be host:port, as 127.0.0.1:8200')
    tls_disable = _bool(body, "tls_disable", where)
    cert = _string(body, "tls_cert_file", f"{where}: tls_cert_file")
    key = _string(body, "tls_key_file", f"{where}: tls_key_file")
    if not tls_disable:
        for name, value in (("tls_cert_file", cert), ("tls_key_file", key)):
            if not value:
                raise ConfigError(f"{where}: {name} is required unless tls_disable = true")
    min_version = _string(body, "tls_min_version", f"{where}: tls_min_version") or "tls12"
    if min_version not in TLS_VERSIONS:
        raise ConfigError(
            f'{where}: tls_min_version "{min_version}" is not supported; use "tls12" or "tls13"'
        )
    return ListenerConfig(
        address=address,
        max_request_size=(
            _count(body, "max_request_size", DEFAULT_MAX_REQUEST_SIZE) or DEFAULT_MAX_REQUEST_SIZE
        ),
        tls_disable=tls_disable,
        tls_cert_file=base_dir / cert if cert else None,
        tls_key_file=base_dir / key if key else None,
        tls_min_version=min_version,
        http_read_header_timeout=_seconds(body, "http_read_header_timeout", where, 10.0),
        http_read_timeout=_seconds(body, "http_read_timeout", where, 30.0),
        http_idle_timeout=_seconds(body, "http_idle_timeout", where, 300.0),
        max_connections=_count(body, "max_connections", DEFAULT_MAX_CONNECTIONS),
    )


def _storage(
    block: tuple[str, dict[str, Any]], base_dir: Path, warnings: list[str]
) -> StorageConfig:
    kind, body = block
    where = f'storage "{kind}"'
    if kind not in _STORAGE_TYPES:
        raise ConfigError(
            f'{where}: unsupported storage type; use storage "tinydb" {{ path = "..." }} '
            'or storage "log" { path = "..." }'
        )
    if kind == "file":
        warnings.append(
            'storage "file" is read as storage "tinydb": path names a directory if it is one '
            "or ends in /, else the database file"
        )
    _warn_unused(body, _STORAGE_KEYS, where, warnings)
    path = _string(body, "path", f"{where}: path")
    if not path:
        raise ConfigError(
            f'{where}: path is required, as in path = "/var/lib/entra-broker/db.json"'
        )
    # Path() drops a final slash, and with it Vault's way of naming a new directory.
    directory = path.endswith(("/", os.sep))
    return StorageConfig(type=_STORAGE_TYPES[kind], path=base_dir / path, directory=directory)


def _audit_devices(raw: Any, base_dir: Path, warnings: list[str]) -> tuple[DeclaredDevice, ...]:
    """Every `audit "<type>" "<path>" { description, options { ... } }` stanza."""
    if raw is None:
        return ()
    example = 'audit "file" "<path>" { options { file_path = "..." } }'
    found: list[DeclaredDevice] = []
    for block in raw if isinstance(raw, list) else [raw]:
        labels: list[str] = []
        body: Any = block
        # Each label nests one level: {"file": {"to-disk": {...body...}}}.
        while isinstance(body, dict) and _BLOCK_MARK not in body and len(body) == 1:
            label, body = next(iter(body.items()))
            labels.append(unquote_label(str(label)))
        if len(labels) != 2 or not isinstance(body, dict):
            raise ConfigError(f"audit: each block takes a type and a path, as in {example}")
        kind, path = labels
        where = f'audit "{kind}" "{path}"'
        if kind not in DEVICE_TYPES:
            raise ConfigError(f'{where}: unknown audit device type; use audit "file"')
        if not path.strip("/"):
            raise ConfigError(f"{where}: the path label must not be empty")
        body = {k: v for k, v in body.items() if k not in _HCL_META}
        _warn_unused(body, _AUDIT_KEYS, where, warnings)
        options = _audit_options(body.get("options"), where, base_dir)
        try:
            FileOptions.parse(options, from_config=True)
        except VaultError as exc:
            raise ConfigError(f"{where}: {'; '.join(exc.errors)}") from None
        description = _string(body, "description", f"{where}: description") or ""
        if any(d.path.strip("/") == path.strip("/") for d in found):
            raise ConfigError(f"two audit devices with same path ({path}) exist in config")
        found.append(DeclaredDevice(kind, path, description, options))
    return tuple(found)


def _audit_options(raw: Any, where: str, base_dir: Path) -> dict[str, str]:
    """The `options` block or map as strings; a relative file_path is resolved."""
    if isinstance(raw, list) and len(raw) == 1:
        raw = raw[0]  # written as a block: options { ... }
    if not isinstance(raw, dict):
        raise ConfigError(f'{where}: options is required, as in options {{ file_path = "..." }}')
    options: dict[str, str] = {}
    for key, value in raw.items():
        if key in _HCL_META:
            continue
        value = _scalar(value, f"{where}: options.{key}")
        if isinstance(value, bool):
            options[key] = "true" if value else "false"
        elif isinstance(value, str | int):
            options[key] = str(value)
        else:
            raise ConfigError(f"{where}: options.{key} must be a string")
    path = options.get("file_path")
    if path and path.lower() not in (STDOUT, DISCARD):
        options["file_path"] = str(base_dir / path)
    return options


def _warn_unused(body: Mapping[str, Any], known: set[str], where: str, warnings: list[str]) -> None:
    # Vault's listener and storage stanzas have many options (and more each release);
    # those we do not implement are reported, not refused.
    for key in sorted(set(body) - known):
        warnings.append(f"{where}: {key} is ignored{_did_you_mean(key, known)}")


def _did_you_mean(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    return f' (did you mean "{close[0]}"?)' if close else ""


# -- values -------------------------------------------------------------------------------


def _scalar(value: Any, where: str) -> Any:
    """A literal value: quotes left by the parser removed, `${literal}` unwrapped."""
    if not isinstance(value, str):
        return value
    text = unquote_label(value)
    if text.startswith("${") and text.endswith("}") and text.count("${") == 1:
        inner = unquote_label(text[2:-1].strip())
        if inner in ("true", "false"):
            return inner == "true"
        if _INT.fullmatch(inner):
            return int(inner)
        if inner != text[2:-1].strip():  # it was a quoted string: "${"x"}"
            return inner
        raise ConfigError(f"{where}: expressions are not supported; write a literal value")
    if "${" in text:
        raise ConfigError(f"{where}: interpolation (${{...}}) is not supported")
    return text


def _string(body: Mapping[str, Any], key: str, where: str) -> str | None:
    if key not in body or body[key] is None:
        return None
    value = _scalar(body[key], where)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"{where}: must be a string")
    return str(value)


def _bool(body: Mapping[str, Any], key: str, where: str) -> bool:
    if key not in body or body[key] is None:
        return False
    value = _scalar(body[key], f"{where}: {key}")
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    raise ConfigError(f'{where}: {key} must be true or false, not "{value}"')


def _count(document: Mapping[str, Any], key: str, default: int) -> int:
    if key not in document or document[key] is None:
        return default
    value = _scalar(document[key], key)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: must be a whole number, 0 or more (0 turns the limit off)")
    return value


_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def _seconds(body: Mapping[str, Any], key: str, where: str, default: float) -> float:
    """A listener timeout: Vault's duration syntax, fractions kept ("500ms"); 0 or
    absent is the default, as in Vault."""
    if key not in body or body[key] is None:
        return default
    value = _scalar(body[key], f"{where}: {key}")
    try:
        seconds = parse_duration(value).total_seconds()  # Vault's errors for bad input
    except DurationError as exc:
        raise ConfigError(f"{where}: {key}: {exc}") from None
    text = value.strip() if isinstance(value, str) else ""
    parts = _GO_PART.findall(text)
    if parts and "".join(number + unit for number, unit in parts) == text:
        seconds = sum(float(number) * _GO_UNITS[unit] for number, unit in parts)
    return seconds or default


def _duration(
    document: Mapping[str, Any], key: str, default: timedelta = DEFAULT_LEASE_TTL
) -> timedelta:
    if key not in document or document[key] is None:
        return default
    value = _scalar(document[key], key)
    try:
        parsed = parse_duration(value)
    except DurationError as exc:
        raise ConfigError(f"{key}: {exc}") from None
    # As in Vault, zero means "use the default".
    return parsed or default
