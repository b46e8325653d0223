"""`entra-broker --help`, every sub-command's help and `--version`, as a user runs them."""

from __future__ import annotations

import argparse
import subprocess
import tomllib
from pathlib import Path

import pytest

from mount.cli import build_parser, emulator_parser
from tests.server_process import command

ROOT = Path(__file__).resolve().parents[2]


def _commands(
    parser: argparse.ArgumentParser, words: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = [(words, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _commands(sub, (*words, name))
    return found


# The emulator's flags live in its own parser (built only when it runs).
COMMANDS = [*_commands(build_parser()), (("emulator",), emulator_parser())]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command() + list(args), capture_output=True, text=True, timeout=60)


def test_every_command_is_walked():
    assert {words for words, _ in COMMANDS} == {
        (),
        ("server",),
        ("operator",),
        ("operator", "generate-root"),
        ("emulator",),
    }


@pytest.mark.parametrize(
    ("words", "parser"), COMMANDS, ids=[" ".join(w) or "entra-broker" for w, _ in COMMANDS]
)
def test_help_describes_the_command_and_every_flag(words, parser):
    assert parser.description, f"{words}: no description"
    result = _run(*words, "--help")
    assert result.returncode == 0 and result.stderr == ""
    text = " ".join(result.stdout.split())  # argparse wraps lines at the terminal width
    assert " ".join(parser.description.split()) in text
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{words}: {action.option_strings or action.dest} has no help"
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help and choice.dest in text, f"{words}: {choice.dest}"
            continue
        for flag in action.option_strings:
            assert flag in text, f"{words}: {flag} missing from --help"


def test_version_is_the_installed_package_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"entra-broker {project['version']}"


def test_no_command_is_a_usage_error_not_a_traceback():
    result = _run()
    assert result.returncode == 2
    assert "the following arguments are required: COMMAND" in result.stderr
    assert "Traceback" not in result.stderr
