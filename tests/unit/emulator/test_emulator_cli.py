"""The emulator's command line: arguments, the listen address, the secret's sources."""

from __future__ import annotations

import argparse

import pytest

from emulator.cli import SECRET_ENV, add_arguments, parse_listen, run


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--cert-dir", "certs", "--tenant-id", "t", "--client-id", "c", *argv])


def test_defaults_and_repeatable_options():
    args = _parse("--user", "a@x.test", "--user", "b@x.test", "--hostname", "emu")
    assert args.listen == "127.0.0.1:0" and args.client_secret is None
    assert args.users == ["a@x.test", "b@x.test"] and args.hostnames == ["emu"]
    assert args.permissions is None
    assert _parse("--permission", "User.Read.All").permissions == ["User.Read.All"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8443", ("127.0.0.1", 8443)),
        ("[::1]:0", ("::1", 0)),
        ("localhost:1", ("localhost", 1)),
        (":9000", ("0.0.0.0", 9000)),
    ],
)
def test_parse_listen(value, expected):
    assert parse_listen(value) == expected


@pytest.mark.parametrize("value", ["127.0.0.1", "host:port", "127.0.0.1:70000", ""])
def test_parse_listen_refuses(value):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(value)


def test_run_without_a_secret_or_with_a_bad_address(monkeypatch, capsys):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert run(_parse()) == 2
    assert SECRET_ENV in capsys.readouterr().err
    monkeypatch.setenv(SECRET_ENV, "from-the-environment")
    assert run(_parse("--listen", "nowhere")) == 2
    err = capsys.readouterr().err
    assert "HOST:PORT" in err and "from-the-environment" not in err
