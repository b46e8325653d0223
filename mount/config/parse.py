"""The server's HCL config file, with Vault's stanza names, read into frozen dataclasses."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mount.audit.device import DEVICE_TYPES, DISCARD, STDOUT, DeclaredDevice, FileOptions
from mount.config.hcl import BLOCK_MARK, META_KEYS, HCLSyntaxError, parse_document
from mount.config.hcl import label as unquote_label

__all__ = ["load_config", "parse_config"]
from mount.config.model import (
    DEFAULT_ADDRESS,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_REQUEST_SIZE,
    DEFAULT_ROLE_ISSUE_INTERVAL,
    DEFAULT_ROLE_ISSUE_LIMIT,
    LOG_FORMATS,
    LOG_LEVELS,
    ConfigError,
    ListenerConfig,
    ServerConfig,
    StorageConfig,
)
from mount.config.values import (
    count,
    did_you_mean,
    duration,
    flag,
    scalar,
    seconds,
    string,
    warn_unused,
)
from mount.sdk.durations import format_duration
from mount.sdk.errors import VaultError

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
            raise ConfigError(f"{key}: unknown setting{did_you_mean(key, _TOP_LEVEL_KEYS)}")

    listener = _listener(_one_block(document, "listener", 'listener "tcp"'), base_dir, warnings)
    storage = _storage(_one_block(document, "storage", 'storage "tinydb"'), base_dir, warnings)
    default_ttl = duration(document, "default_lease_ttl")
    max_ttl = duration(document, "max_lease_ttl")
    if not document.get("default_lease_ttl"):
        # Only a max was set: the built-in default follows it down rather than refusing.
        default_ttl = min(default_ttl, max_ttl)
    if default_ttl > max_ttl:
        raise ConfigError(
            f"default_lease_ttl ({format_duration(default_ttl)}) cannot exceed "
            f"max_lease_ttl ({format_duration(max_ttl)})"
        )
    log_level = string(document, "log_level", "log_level")
    if log_level is None:
        log_level = "info"
    log_level = log_level.strip().lower()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f'log_level: "{log_level}" is not one of {", ".join(LOG_LEVELS)}')
    log_format = (string(document, "log_format", "log_format") or "standard").strip().lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f'log_format: "{log_format}" is not one of {", ".join(LOG_FORMATS)}')
    seal_key_file = string(document, "seal_key_file", "seal_key_file")
    return ServerConfig(
        listener=listener,
        storage=storage,
        default_lease_ttl=default_ttl,
        max_lease_ttl=max_ttl,
        log_level=log_level,
        log_format=log_format,
        seal_key_file=None if not seal_key_file else base_dir / seal_key_file,
        api_addr=string(document, "api_addr", "api_addr") or None,
        role_issue_limit=count(document, "role_issue_limit", DEFAULT_ROLE_ISSUE_LIMIT),
        role_issue_interval=(
            duration(document, "role_issue_interval", DEFAULT_ROLE_ISSUE_INTERVAL)
        ),
        max_leases_per_role=count(document, "max_leases_per_role", 0),
        max_leases_per_mount=count(document, "max_leases_per_mount", 0),
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
    warn_unused(body, _LISTENER_KEYS | {"http_write_timeout"}, where, warnings)
    address = string(body, "address", f"{where}: address") or DEFAULT_ADDRESS
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f'{where}: address "{address}" must be host:port, as 127.0.0.1:8200')
    tls_disable = flag(body, "tls_disable", where)
    cert = string(body, "tls_cert_file", f"{where}: tls_cert_file")
    key = string(body, "tls_key_file", f"{where}: tls_key_file")
    if not tls_disable:
        for name, value in (("tls_cert_file", cert), ("tls_key_file", key)):
            if not value:
                raise ConfigError(f"{where}: {name} is required unless tls_disable = true")
    min_version = string(body, "tls_min_version", f"{where}: tls_min_version") or "tls12"
    if min_version not in TLS_VERSIONS:
        raise ConfigError(
            f'{where}: tls_min_version "{min_version}" is not supported; use "tls12" or "tls13"'
        )
    return ListenerConfig(
        address=address,
        max_request_size=(
            count(body, "max_request_size", DEFAULT_MAX_REQUEST_SIZE) or DEFAULT_MAX_REQUEST_SIZE
        ),
        tls_disable=tls_disable,
        tls_cert_file=base_dir / cert if cert else None,
        tls_key_file=base_dir / key if key else None,
        tls_min_version=min_version,
        http_read_header_timeout=seconds(body, "http_read_header_timeout", where, 10.0),
        http_read_timeout=seconds(body, "http_read_timeout", where, 30.0),
        http_idle_timeout=seconds(body, "http_idle_timeout", where, 300.0),
        max_connections=count(body, "max_connections", DEFAULT_MAX_CONNECTIONS),
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
    warn_unused(body, _STORAGE_KEYS, where, warnings)
    path = string(body, "path", f"{where}: path")
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
        warn_unused(body, _AUDIT_KEYS, where, warnings)
        options = _audit_options(body.get("options"), where, base_dir)
        try:
            FileOptions.parse(options, from_config=True)
        except VaultError as exc:
            raise ConfigError(f"{where}: {'; '.join(exc.errors)}") from None
        description = string(body, "description", f"{where}: description") or ""
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
        value = scalar(value, f"{where}: options.{key}")
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


# -- values -------------------------------------------------------------------------------
