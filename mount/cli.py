"""The `entra-broker` command line: the parser and the dispatch to run, dev or the emulator."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from mount.config.model import LOG_FORMATS, ConfigError
from mount.config.parse import load_config
from mount.http.server import run_loop
from mount.logging_setup import LOG_LEVELS, setup_logging
from mount.run import generate_root, run_server
from mount.startup import StartupError

__all__ = ["build_parser", "emulator_parser", "main", "parse_arguments"]

logger = logging.getLogger("entra_broker")


def _version() -> str:
    try:
        return metadata.version("entra-broker")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


VERSION = _version()
EMULATOR_DESCRIPTION = "Run a local Entra tenant (login and Graph) over HTTPS, for tests and demos."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="entra-broker",
        description="Short-lived Azure Entra ID credentials through the HashiCorp Vault API.",
        epilog="Documentation: docs/quickstart.md, docs/configuration.md and docs/operations.md "
        "in the source distribution.",
    )
    parser.add_argument("--version", action="version", version=f"entra-broker {VERSION}")
    commands = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        required=True,
        help="what to run; `entra-broker COMMAND --help` describes each",
    )

    _add_server_command(commands)
    _add_operator_command(commands)
    _add_emulator_command(commands)
    return parser


def _add_server_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    server = commands.add_parser(
        "server",
        help="run the broker",
        description="Run the broker: with --config for real use, with --dev to try it out.",
    )
    mode = server.add_mutually_exclusive_group(required=True)
    # Each flag also takes Vault's single-dash spelling (`-dev`, `-config=FILE`), which
    # Vault's docs and ported scripts use.
    mode.add_argument("-config", "--config", type=Path, metavar="FILE", help="HCL config file")
    mode.add_argument(
        "-dev",
        "--dev",
        action="store_true",
        help="temporary storage, a printed root token and an emulated Entra tenant",
    )
    server.add_argument(
        "-dev-listen-address",
        "--dev-listen-address",
        default="127.0.0.1:8200",
        metavar="ADDR",
        help="address for dev mode (default 127.0.0.1:8200)",
    )
    server.add_argument(
        "-dev-root-token-id",
        "--dev-root-token-id",
        metavar="TOKEN",
        help="root token to use in dev mode",
    )
    server.add_argument(
        "-dev-no-emulator",
        "--dev-no-emulator",
        dest="dev_emulator",
        action="store_false",
        help="dev mode without its built-in Entra emulator: entra/ is left unconfigured, "
        "for pointing it at a separate emulator or a test tenant",
    )
    server.add_argument(
        "-log-level",
        "--log-level",
        choices=sorted(LOG_LEVELS),
        help="log level (default: the config's log_level, else info)",
    )
    server.add_argument(
        "-log-format",
        "--log-format",
        choices=LOG_FORMATS,
        help="standard text lines or JSON lines (default: the config's log_format, else standard)",
    )


def _add_operator_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    operator = commands.add_parser(
        "operator", help="offline maintenance", description="Offline maintenance commands."
    )
    operator_commands = operator.add_subparsers(
        dest="operator_command",
        metavar="COMMAND",
        required=True,
        help="the maintenance task; each works on the storage file with the server stopped",
    )
    generate = operator_commands.add_parser(
        "generate-root",
        help="create a new root token (server stopped)",
        description="Create a new root token directly in the storage file, for when the "
        "one printed at first start is lost. Stop the server first: the storage file has "
        "a single writer.",
    )
    generate.add_argument(
        "-config",
        "--config",
        type=Path,
        required=True,
        metavar="FILE",
        help="the server's HCL config file",
    )


def _add_emulator_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # The emulator is its own program with its own flags: its parser is built only when
    # it runs, so a production start never imports it.
    emulator = commands.add_parser(
        "emulator",
        help="run the Entra ID emulator alone",
        description=EMULATOR_DESCRIPTION,
        add_help=False,
    )
    emulator.add_argument(
        "arguments",
        nargs=argparse.REMAINDER,
        metavar="...",
        help="the emulator's flags: `entra-broker emulator --help` lists them",
    )


def emulator_parser() -> argparse.ArgumentParser:
    """The `entra-broker emulator` command's own parser (imports the emulator)."""
    from plugin.emulator import cli as emulator_cli

    parser = argparse.ArgumentParser(prog="entra-broker emulator", description=EMULATOR_DESCRIPTION)
    emulator_cli.add_arguments(parser)
    return parser


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, parsed; the emulator's flags by its own parser when it runs."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["emulator"]:
        args = emulator_parser().parse_args(words[1:])
        args.command = "emulator"
        return args
    return build_parser().parse_args(words)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.command == "emulator":
        from plugin.emulator import cli as emulator_cli

        return int(emulator_cli.run(args))
    try:
        if args.command == "operator":
            config, _ = load_config(args.config)
            setup_logging("warning", config.log_format)
            token = run_loop(generate_root(config))
            print(f"Root Token: {token}")
            return 0
        if args.dev:
            from mount.dev import DevOptions, run_dev  # imports the emulator: dev mode only

            setup_logging(args.log_level or "info", args.log_format or "standard")
            run_loop(
                run_dev(
                    DevOptions(args.dev_listen_address, args.dev_root_token_id, args.dev_emulator)
                )
            )
        else:
            config, warnings = load_config(args.config)
            setup_logging(args.log_level or config.log_level, args.log_format or config.log_format)
            run_loop(run_server(config, warnings, args.config))
    except ConfigError as exc:
        if exc.warnings:
            # The "did you mean" of a typo, before the error the typo caused.
            setup_logging(getattr(args, "log_level", None) or "info", _log_format(args))
            for warning in exc.warnings:
                logger.warning("config: %s", warning)
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except StartupError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


def _log_format(args: argparse.Namespace) -> str:
    return str(getattr(args, "log_format", None) or "standard")
