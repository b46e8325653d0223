"""The listener's connection keys in the config file: Vault's timeouts and our bound."""

from pathlib import Path

import pytest

from mount.config.model import ConfigError, ListenerConfig
from mount.config.parse import parse_config


def listener(lines: str) -> tuple[ListenerConfig, list[str]]:
    text = (
        f'listener "tcp" {{\n  tls_disable = true\n{lines}\n}}\n'
        'storage "tinydb" {\n  path = "/var/lib/entra-broker/db.json"\n}\n'
    )
    config, warnings = parse_config(text, base_dir=Path("/etc/entra-broker"))
    return config.listener, warnings


def test_vault_defaults_when_absent_or_zero():
    for lines in ("", '  http_read_header_timeout = 0\n  http_idle_timeout = "0s"'):
        found, warnings = listener(lines)
        assert warnings == []
        assert found.http_read_header_timeout == 10.0
        assert found.http_read_timeout == 30.0
        assert found.http_idle_timeout == 300.0
        assert found.max_connections == 1024


def test_the_keys_as_vault_writes_them_fractions_kept():
    found, warnings = listener(
        '  http_read_header_timeout = "500ms"\n  http_read_timeout = 45\n'
        '  http_idle_timeout = "1m30s"\n  max_connections = 64'
    )
    assert warnings == []
    assert found.http_read_header_timeout == 0.5
    assert found.http_read_timeout == 45.0
    assert found.http_idle_timeout == 90.0
    assert found.max_connections == 64


def test_vaults_write_timeout_is_reported_as_ignored():
    _, warnings = listener('  http_write_timeout = "10s"')
    assert warnings == ['listener "tcp": http_write_timeout is ignored; responses have no timeout']


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (
            '  http_read_header_timeout = "12km"',
            'listener "tcp": http_read_header_timeout: time: unknown unit "km" in duration "12km"',
        ),
        ('  http_idle_timeout = "-5s"', "http_idle_timeout: cannot provide negative value"),
        ("  max_connections = -1", "max_connections: must be a whole number"),
    ],
)
def test_bad_values_are_one_sentence(lines: str, message: str):
    with pytest.raises(ConfigError, match=message):
        listener(lines)


def test_the_open_file_limit_is_raised_to_fit_max_connections(monkeypatch, caplog):
    import resource

    from mount.http import server

    limits = {"now": (1024, 4096)}
    monkeypatch.setattr(resource, "getrlimit", lambda _: limits["now"])
    monkeypatch.setattr(resource, "setrlimit", lambda _, value: limits.update(now=value))
    server._allow_open_files(2000)
    assert limits["now"] == (2000 + server._SPARE_FILES, 4096) and not caplog.records
    # Past the hard limit: raised as far as it goes, and said at start.
    server._allow_open_files(10_000)
    assert limits["now"] == (4096, 4096)
    assert "lower max_connections or raise the limit (ulimit -n)" in caplog.text
