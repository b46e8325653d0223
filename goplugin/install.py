"""`entra-broker openbao-plugin install --plugin-dir DIR`: the launcher and the commands.

Writes an executable launcher into OpenBao's `plugin_directory` that execs this very
interpreter with `-m goplugin.entra`, and prints, each on its own line, the exact
`bao plugin register` and `bao secrets enable` commands (a contract: tools and the docs
rely on these lines). The sha256 OpenBao checks covers the launcher only, not the
Python code it runs: protect the virtualenv like the plugin directory.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shlex
import sys
from pathlib import Path

__all__ = ["LAUNCHER_NAME", "add_arguments", "install", "launcher_text", "run"]

LAUNCHER_NAME = "entra-broker-plugin"


def launcher_text(python: str) -> str:
    return (
        "#!/bin/sh\n"
        "# The entra-broker Entra ID secrets engine as an OpenBao/Vault external plugin.\n"
        "# Written by `entra-broker openbao-plugin install`; re-run it after moving the\n"
        "# virtualenv, then register the new sha256 and `bao plugin reload`.\n"
        f'exec {shlex.quote(python)} -m goplugin.entra "$@"\n'
    )


def install(plugin_dir: Path, name: str = LAUNCHER_NAME, python: str | None = None) -> list[str]:
    """Write the launcher; return the two commands to run, in order."""
    if not plugin_dir.is_dir():
        raise FileNotFoundError(
            f"{plugin_dir} is not a directory: give OpenBao's plugin_directory (or the "
            "dev server's -dev-plugin-dir)"
        )
    path = plugin_dir / name
    text = launcher_text(python or sys.executable).encode()
    # Written aside and renamed: a running OpenBao never sees a half-written launcher.
    partial = path.with_name(f".{name}.partial")
    partial.write_bytes(text)
    partial.chmod(0o755)
    os.replace(partial, path)
    digest = hashlib.sha256(text).hexdigest()
    return [
        f"bao plugin register -sha256={digest} -command={name} secret entra",
        "bao secrets enable -path=entra entra",
    ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(
        dest="openbao_command",
        metavar="COMMAND",
        required=True,
        help="what to do; `entra-broker openbao-plugin COMMAND --help` describes each",
    )
    install_parser = commands.add_parser(
        "install",
        help="write the plugin launcher and print the commands that register and enable it",
        description="Write the launcher of the Entra engine as an OpenBao external plugin "
        "into OpenBao's plugin_directory, then print the `bao plugin register` and "
        "`bao secrets enable` commands to run (see docs/openbao.md).",
    )
    install_parser.add_argument(
        "--plugin-dir",
        "-plugin-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="OpenBao's plugin_directory",
    )


def run(args: argparse.Namespace) -> int:
    try:
        lines = install(args.plugin_dir)
    except OSError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0
