"""`entra-broker emulator`: run the Entra emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from emulator.directory import DirectoryRoleError, find_template
from emulator.server import EmulatorServer
from emulator.settings import DEFAULT_ROLES, EmulatorSettings

__all__ = ["SECRET_ENV", "add_arguments", "parse_directory_roles", "parse_listen", "run"]

SECRET_ENV = "ENTRA_EMULATOR_CLIENT_SECRET"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options, on `parser` (a sub-command parser or a standalone one)."""
    _add_server_arguments(parser)
    _add_tenant_arguments(parser)


def _add_server_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the emulator listens and the certificate it serves."""
    parser.add_argument(
        "--listen",
        default="127.0.0.1:0",
        metavar="HOST:PORT",
        help="address to serve HTTPS on; port 0 picks a free one (default 127.0.0.1:0)",
    )
    parser.add_argument(
        "--cert-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="directory for ca.pem (trust this), server.pem and server-key.pem",
    )
    parser.add_argument(
        "--hostname",
        dest="hostnames",
        action="append",
        default=[],
        metavar="NAME",
        help="an extra name for the server certificate (repeatable)",
    )


def _add_tenant_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulated tenant: its application, users, roles, groups and permissions."""
    parser.add_argument("--tenant-id", required=True, help="the emulated tenant's id")
    parser.add_argument("--client-id", required=True, help="the registered application's id")
    parser.add_argument(
        "--client-secret",
        default=None,
        help=f"the application's secret (default: ${SECRET_ENV}; prefer the variable, "
        "command lines are visible to other users)",
    )
    parser.add_argument(
        "--user",
        dest="users",
        action="append",
        default=[],
        metavar="UPN",
        help="a user to create, e.g. alice@example.test (repeatable)",
    )
    parser.add_argument(
        "--directory-role",
        dest="directory_roles",
        action="append",
        default=[],
        metavar="UPN=ROLE",
        help="give a user of --user a directory role, by template id or name, e.g. "
        "admin@example.test='Global Administrator' (repeatable)",
    )
    parser.add_argument(
        "--group",
        dest="groups",
        action="append",
        default=[],
        metavar="NAME=UPN[,UPN...]",
        help="a security group with these --user users as members; its object id (the "
        "`groups` claim of id tokens) is listed at /_emulator/groups (repeatable)",
    )
    parser.add_argument(
        "--permission",
        dest="permissions",
        action="append",
        default=None,
        metavar="NAME",
        help="a Graph application permission granted to the app (repeatable; "
        f"default {', '.join(DEFAULT_ROLES)})",
    )
    parser.add_argument(
        "--propagation-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="refuse a new client secret at the token endpoint for this long after it is "
        "added, as Entra does while it propagates (default 0)",
    )


def parse_listen(value: str) -> tuple[str, int]:
    """("host", port) from HOST:PORT or [IPv6]:PORT; raises ValueError with a sentence."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"--listen {value!r} must be HOST:PORT, e.g. 127.0.0.1:8443")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port_text)


def parse_directory_roles(values: list[str], users: list[str]) -> dict[str, list[str]]:
    """{upn: [role, ...]} from UPN=ROLE values; raises ValueError with a sentence."""
    known = {u.lower(): u for u in users}
    found: dict[str, list[str]] = {}
    for value in values:
        upn, sep, role = value.partition("=")
        upn, role = upn.strip(), role.strip()
        if not sep or not upn or not role:
            raise ValueError(
                f"--directory-role {value!r} must be UPN=ROLE, e.g. "
                "admin@example.test='Global Administrator'"
            )
        if upn.lower() not in known:
            raise ValueError(f"--directory-role {value!r}: {upn} is not one of the --user users")
        try:
            find_template(role)
        except DirectoryRoleError as exc:
            raise ValueError(f"--directory-role {value!r}: {exc}") from None
        found.setdefault(known[upn.lower()], []).append(role)
    return found


def parse_groups(values: list[str], users: list[str]) -> dict[str, list[str]]:
    """{group name: [upn, ...]} from NAME=UPN[,UPN...] values; raises ValueError."""
    known = {u.lower(): u for u in users}
    found: dict[str, list[str]] = {}
    for value in values:
        name, sep, members = value.partition("=")
        name = name.strip()
        upns = [m.strip() for m in members.split(",") if m.strip()]
        if not sep or not name:
            raise ValueError(
                f"--group {value!r} must be NAME=UPN[,UPN...], e.g. Engineers=alice@example.test"
            )
        for upn in upns:
            if upn.lower() not in known:
                raise ValueError(f"--group {value!r}: {upn} is not one of the --user users")
        found.setdefault(name, []).extend(known[u.lower()] for u in upns)
    return found


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; 0 on a clean stop, 2 for bad arguments, 1 otherwise."""
    secret = args.client_secret or os.environ.get(SECRET_ENV, "")
    if not secret:
        print(f"entra-broker emulator: give --client-secret or set {SECRET_ENV}", file=sys.stderr)
        return 2
    try:
        host, port = parse_listen(args.listen)
        directory_roles = parse_directory_roles(list(args.directory_roles), list(args.users))
        groups = parse_groups(list(args.groups), list(args.users))
    except ValueError as exc:
        print(f"entra-broker emulator: {exc}", file=sys.stderr)
        return 2
    settings = EmulatorSettings(
        tenant_id=args.tenant_id,
        client_id=args.client_id,
        client_secret=secret,
        users=list(args.users),
        roles=list(args.permissions) if args.permissions is not None else list(DEFAULT_ROLES),
        hostnames=list(args.hostnames),
        directory_roles=directory_roles,
        groups=groups,
        propagation_delay=max(0.0, float(args.propagation_delay)),
    )
    return asyncio.run(_serve(settings, host, port, Path(args.cert_dir)))


async def _serve(settings: EmulatorSettings, host: str, port: int, cert_dir: Path) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    server = EmulatorServer(settings, cert_dir=cert_dir)
    try:
        try:
            await server.start(host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            message = f"entra-broker emulator: cannot listen on {host}:{port}: {reason}"
            print(message, file=sys.stderr)
            return 1
        except ValueError as exc:  # a --hostname the certificate cannot hold
            print(f"entra-broker emulator: {exc}", file=sys.stderr)
            return 2
        print(f"Entra emulator listening on {server.base_url} (CA: {server.ca_path})", flush=True)
        await stop.wait()
        return 0
    finally:
        await server.stop()
        for signum in signals:
            loop.remove_signal_handler(signum)
