"""The HCL server config file (mount/config/parse.py)."""

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from mount.config.model import ConfigError, ListenerConfig, ServerConfig, StorageConfig
from mount.config.parse import load_config, parse_config

BASE = Path("/etc/entra-broker")

VAULT_STYLE = """
# A config as an operator ports it from Vault.
ui            = true
disable_mlock = true
cluster_addr  = "https://127.0.0.1:8201"
api_addr      = "https://broker.example.com:8200"

storage "tinydb" {
  path = "data/broker.json"
}

listener "tcp" {
  address         = "0.0.0.0:8200"
  tls_cert_file   = "tls/broker.crt"
  tls_key_file    = "/etc/ssl/private/broker.key"
  tls_min_version = "tls13"
}

telemetry {
  prometheus_retention_time = "30s"
  disable_hostname          = true
}

default_lease_ttl = "1h"
max_lease_ttl     = "24h"
log_level         = "Debug"
seal_key_file     = "seal.key"
"""

MINIMAL = """
listener "tcp" {
  tls_disable = true
}
storage "tinydb" {
  path = "/var/lib/entra-broker/db.json"
}
"""


def parse(text: str) -> tuple[ServerConfig, list[str]]:
    return parse_config(text, base_dir=BASE)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as excinfo:
        parse(text)
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_full_vault_style_file():
    config, warnings = parse(VAULT_STYLE)
    assert config == ServerConfig(
        listener=ListenerConfig(
            address="0.0.0.0:8200",
            tls_disable=False,
            tls_cert_file=BASE / "tls/broker.crt",
            tls_key_file=Path("/etc/ssl/private/broker.key"),
            tls_min_version="tls13",
        ),
        storage=StorageConfig(type="tinydb", path=BASE / "data/broker.json"),
        default_lease_ttl=timedelta(hours=1),
        max_lease_ttl=timedelta(hours=24),
        log_level="debug",
        seal_key_file=BASE / "seal.key",
        api_addr="https://broker.example.com:8200",
    )
    assert warnings == [
        "cluster_addr: ignored; entra-broker does not use this Vault setting",
        "disable_mlock: ignored; entra-broker does not use this Vault setting",
        "telemetry: ignored; entra-broker does not use this Vault setting",
        "ui: ignored; entra-broker does not use this Vault setting",
    ]


def test_minimal_file_takes_vault_defaults():
    config, warnings = parse(MINIMAL)
    assert warnings == []
    assert config.listener == ListenerConfig(address="127.0.0.1:8200", tls_disable=True)
    assert config.storage == StorageConfig(path=Path("/var/lib/entra-broker/db.json"))
    assert config.default_lease_ttl == config.max_lease_ttl == timedelta(hours=768)
    assert config.log_level == "info"
    assert config.seal_key_file is None
    assert config.api_addr is None


def test_records_are_frozen():
    config, _ = parse(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.log_level = "debug"  # type: ignore[misc]
    assert not hasattr(config, "__dict__")


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("true", True),
        ('"true"', True),
        ("1", True),
        ('"1"', True),
        ('"TRUE"', True),
        ("false", False),
        ('"false"', False),
        ("0", False),
    ],
)
def test_tls_disable_forms(written, expected):
    text = f"""
        listener "tcp" {{
          tls_disable   = {written}
          tls_cert_file = "c.pem"
          tls_key_file  = "k.pem"
        }}
        storage "tinydb" {{ path = "db.json" }}
    """
    assert parse(text)[0].listener.tls_disable is expected


def test_unquoted_labels_and_file_alias():
    config, warnings = parse(
        """
        listener tcp { tls_disable = true }
        storage file { path = "db.json" }
        """
    )
    assert config.storage == StorageConfig(type="tinydb", path=BASE / "db.json")
    assert warnings == [
        'storage "file" is read as storage "tinydb": path names a directory if it is one '
        "or ends in /, else the database file"
    ]


def test_a_storage_path_ending_in_a_slash_names_a_directory():
    config, _ = parse('listener "tcp" { tls_disable = true }\nstorage "log" { path = "state/" }')
    assert config.storage == StorageConfig(type="log", path=BASE / "state", directory=True)
    assert parse(MINIMAL)[0].storage.directory is False


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        (
            'listener "tcp" { tls_disabel = true }\nstorage "tinydb" { path = "db" }',
            'listener "tcp": tls_disabel is ignored (did you mean "tls_disable"?)',
        ),
        (
            'listener "tcp" { tls_disable = true }\nstorage "tinydb" { pth = "db" }',
            'storage "tinydb": pth is ignored (did you mean "path"?)',
        ),
    ],
    ids=["tls_disabel", "pth"],
)
def test_the_error_a_typo_causes_carries_its_did_you_mean(text, hint):
    with pytest.raises(ConfigError) as caught:
        parse(text)
    assert caught.value.warnings == [hint]


@pytest.mark.parametrize(
    ("written", "seconds"),
    [('"90m"', 5400), ("3600", 3600), ('"3600"', 3600), ('"7d"', 604800), ('"0"', 768 * 3600)],
)
def test_durations(written, seconds):
    config, _ = parse(MINIMAL + f"default_lease_ttl = {written}\nmax_lease_ttl = {written}\n")
    assert config.default_lease_ttl == timedelta(seconds=seconds)


@pytest.mark.parametrize("level", ["trace", "debug", "info", "warn", "warning", "error", "INFO"])
def test_log_levels(level):
    assert parse(MINIMAL + f'log_level = "{level}"')[0].log_level == level.lower()


@pytest.mark.parametrize(("written", "expected"), [("json", "json"), ("Standard", "standard")])
def test_log_formats(written, expected):
    assert parse(MINIMAL)[0].log_format == "standard"
    assert parse(MINIMAL + f'log_format = "{written}"')[0].log_format == expected


def test_vault_seal_stanza_is_ignored_with_a_hint():
    _, warnings = parse(MINIMAL + 'seal "awskms" { kms_key_id = "x" }')
    assert warnings == [
        "seal: ignored; storage is encrypted with ENTRA_BROKER_SEAL_KEY or seal_key_file"
    ]


def test_comments_and_heredocs():
    config, _ = parse(
        MINIMAL
        + """
        // a comment
        /* another */
        api_addr = <<EOT
https://broker.example.com
EOT
        """
    )
    assert config.api_addr == "https://broker.example.com"


# -- errors: one sentence naming the key and the fix ---------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'listener "tcp" { address = "0.0.0.0:8200" }\nstorage "tinydb" { path = "db" }',
            'listener "tcp": tls_cert_file is required unless tls_disable = true',
        ),
        (
            'listener "tcp" { tls_cert_file = "c" }\nstorage "tinydb" { path = "db" }',
            'listener "tcp": tls_key_file is required unless tls_disable = true',
        ),
        (
            MINIMAL + 'default_lease_ttl = "forever"',
            'default_lease_ttl: time: invalid duration "forever"',
        ),
        (
            MINIMAL + 'max_lease_ttl = "-1h"',
            "max_lease_ttl: cannot provide negative value '-1h'",
        ),
        (
            MINIMAL + 'default_lease_ttl = "48h"\nmax_lease_ttl = "24h"',
            "default_lease_ttl (48h) cannot exceed max_lease_ttl (24h)",
        ),
        (
            MINIMAL + 'default_lease_ttl = "1000h"',
            "default_lease_ttl (1000h) cannot exceed max_lease_ttl (768h)",
        ),
        (
            'listener "unix" { address = "/run/b.sock" }\nstorage "tinydb" { path = "db" }',
            'listener "unix": unsupported listener type; only listener "tcp" is supported',
        ),
        (
            'listener "tcp" { tls_disable = true }\nstorage "raft" { path = "db" }',
            'storage "raft": unsupported storage type; use storage "tinydb" { path = "..." } '
            'or storage "log" { path = "..." }',
        ),
        (
            'listener "tcp" { tls_disable = true }\nstorage "tinydb" { }',
            'storage "tinydb": path is required, as in path = "/var/lib/entra-broker/db.json"',
        ),
        (
            'storage "tinydb" { path = "db" }',
            'listener: a listener "tcp" { ... } block is required',
        ),
        (
            'listener "tcp" { tls_disable = true }',
            'storage: a storage "tinydb" { ... } block is required',
        ),
        (
            MINIMAL + 'listener "tcp" { tls_disable = true }',
            "listener: exactly one listener block is supported, found 2",
        ),
        (
            MINIMAL + 'storage "file" { path = "x" }',
            "storage: exactly one storage block is supported, found 2",
        ),
        (
            'listener { tls_disable = true }\nstorage "tinydb" { path = "db" }',
            'listener: the block needs a type label, as in listener "tcp" { ... }',
        ),
        (
            'listener "tcp" "x" { }\nstorage "tinydb" { path = "db" }',
            'listener: the block takes one type label, as in listener "tcp" { ... }',
        ),
        (
            'listener = "tcp"\nstorage "tinydb" { path = "db" }',
            'listener: must be a block, as in listener "tcp" { ... }',
        ),
        (
            'listener "tcp" {\n  tls_disable = "maybe"\n}\nstorage "tinydb" { path = "db" }',
            'listener "tcp": tls_disable must be true or false, not "maybe"',
        ),
        (
            'listener "tcp" {\n  tls_disable = true\n  address = "8200"\n}\n'
            'storage "tinydb" { path = "db" }',
            'listener "tcp": address "8200" must be host:port, as 127.0.0.1:8200',
        ),
        (
            MINIMAL + 'log_level = "verbose"',
            'log_level: "verbose" is not one of trace, debug, info, warn, warning, error',
        ),
        (
            MINIMAL + 'log_format = "logfmt"',
            'log_format: "logfmt" is not one of standard, json',
        ),
        (
            MINIMAL + 'max_leas_ttl = "1h"',
            'max_leas_ttl: unknown setting (did you mean "max_lease_ttl"?)',
        ),
        (
            MINIMAL + 'api_addr = "https://${var.host}:8200"',
            "api_addr: interpolation (${...}) is not supported",
        ),
        (
            MINIMAL + "api_addr = var.host",
            "api_addr: expressions are not supported; write a literal value",
        ),
        (
            MINIMAL + "seal_key_file = [1, 2]",
            "seal_key_file: must be a string",
        ),
    ],
)
def test_errors(text, message):
    assert error_of(text) == message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('listener "tcp" {\n  address = "x"\n', "at line 3, column 1"),
        ('log_level = "info"\nstorage "tinydb" {\n  path = @\n}\n', "at line 3, column 10"),
        ('listener "tcp" { tls_disable = true }\nstorage "tinydb" {{ }', "at line 2"),
    ],
)
def test_syntax_error_names_the_line(text, where):
    message = error_of(text)
    assert message.startswith("HCL syntax error in the config ")
    assert where in message


def test_load_config_resolves_paths_against_the_file(tmp_path):
    config_dir = tmp_path / "etc"
    config_dir.mkdir()
    path = config_dir / "broker.hcl"
    path.write_text(VAULT_STYLE)
    config, warnings = load_config(path)
    assert config.storage.path == config_dir.resolve() / "data/broker.json"
    assert config.listener.tls_cert_file == config_dir.resolve() / "tls/broker.crt"
    assert config.seal_key_file == config_dir.resolve() / "seal.key"
    assert len(warnings) == 4


def test_load_config_names_the_file_in_syntax_errors(tmp_path):
    path = tmp_path / "broker.hcl"
    path.write_text("listener {")
    with pytest.raises(ConfigError, match=f"HCL syntax error in {path} at line 1"):
        load_config(path)


def test_unreadable_file(tmp_path):
    path = tmp_path / "missing.hcl"
    with pytest.raises(ConfigError) as excinfo:
        load_config(path)
    assert str(excinfo.value) == f"cannot read config file {path}: No such file or directory"


def test_binary_file(tmp_path):
    path = tmp_path / "broker.hcl"
    path.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match="it is not UTF-8 text"):
        load_config(path)


def test_a_lower_max_alone_pulls_the_default_down():
    config, _ = parse(MINIMAL + 'max_lease_ttl = "24h"\n')
    assert config.max_lease_ttl == config.default_lease_ttl == timedelta(hours=24)


def test_role_issue_limit_keys():
    config, _ = parse(MINIMAL + 'role_issue_limit = 5\nrole_issue_interval = "10m"\n')
    assert config.role_issue_limit == 5
    assert config.role_issue_interval == timedelta(minutes=10)
    default, _ = parse(MINIMAL)
    assert default.role_issue_limit == 30 and default.role_issue_interval == timedelta(minutes=1)
    with pytest.raises(ConfigError, match="role_issue_limit: must be a whole number"):
        parse(MINIMAL + "role_issue_limit = -1\n")


def test_lease_quota_and_request_size_keys():
    text = MINIMAL.replace("tls_disable", "max_request_size = 65536\n  tls_disable")
    config, warnings = parse(text + "max_leases_per_role = 10\nmax_leases_per_mount = 100\n")
    assert warnings == []
    assert config.listener.max_request_size == 65536
    assert (config.max_leases_per_role, config.max_leases_per_mount) == (10, 100)
    assert parse(MINIMAL)[0].listener.max_request_size == 1024 * 1024


def test_audit_stanzas_in_file_order_with_relative_paths_resolved():
    config, warnings = parse(
        MINIMAL
        + """
audit "file" "to-disk" {
  description = "on disk"
  options {
    file_path     = "audit/audit.log"
    hmac_accessor = false
    prefix        = "AUDIT "
  }
  bogus = 1
}
audit "file" "to-stdout" {
  options = { file_path = "stdout" }
}
"""
    )
    assert [(d.type, d.path, d.description) for d in config.audit] == [
        ("file", "to-disk", "on disk"),
        ("file", "to-stdout", ""),
    ]
    assert config.audit[0].options == {
        "file_path": "/etc/entra-broker/audit/audit.log",
        "hmac_accessor": "false",
        "prefix": "AUDIT ",
    }
    assert config.audit[1].options == {"file_path": "stdout"}
    assert warnings == ['audit "file" "to-disk": bogus is ignored']
    assert parse(MINIMAL)[0].audit == ()


@pytest.mark.parametrize(
    ("stanza", "message"),
    [
        ('audit "file" { options { file_path = "a" } }', "audit: each block takes a type and"),
        ('audit "socket" "s" { options { file_path = "a" } }', 'audit "socket" "s": unknown'),
        ('audit "file" "f" { description = "d" }', 'audit "file" "f": options is required'),
        ('audit "file" "f" { options { mode = "0600" } }', 'audit "file" "f": file_path is'),
        ('audit "file" "f" { options { file_path = "a"\n log_raw = true } }', "log_raw is not"),
        (
            'audit "file" "f" { options { file_path = "a" } }\n'
            'audit "file" "f/" { options { file_path = "b" } }',
            "two audit devices with same path (f/) exist in config",
        ),
    ],
)
def test_audit_stanza_errors(stanza, message):
    with pytest.raises(ConfigError) as caught:
        parse(MINIMAL + stanza)
    assert message in str(caught.value)
