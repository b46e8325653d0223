"""Running the HTTP app on a listener until SIGINT/SIGTERM, with optional TLS."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import signal
import socket
import ssl
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from mount.http.listener import DEFAULT_LIMITS, ListenerLimits, listening_sockets, start_serving
from mount.startup import StartupError

__all__ = ["ServerError", "bind", "is_loopback", "parse_address", "serve", "tls_context"]

logger = logging.getLogger(__name__)


class ServerError(StartupError):
    """A start-up problem, told to the operator as one sentence."""


def is_loopback(host: str) -> bool:
    """Whether `host` (as in a listener address) only accepts local connections."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere


def parse_address(address: str) -> tuple[str, int]:
    """`127.0.0.1:8200`, `[::1]:8200` or `:8200` (all interfaces) to host and port."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ServerError(f'listener address "{address}" must look like 127.0.0.1:8200')
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


_TLS_VERSIONS = {"tls12": ssl.TLSVersion.TLSv1_2, "tls13": ssl.TLSVersion.TLSv1_3}


def tls_context(cert_file: Path, key_file: Path, min_version: str = "tls12") -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = _TLS_VERSIONS[min_version]
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError:
        raise ServerError(
            f"cannot load the TLS certificate {cert_file} and key {key_file}: they are not a "
            "PEM certificate and its matching private key"
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ServerError(
            f"cannot load the TLS certificate {cert_file} and key {key_file}: {reason}"
        ) from None
    return context


def bind(address: str, *, tls: bool) -> list[socket.socket]:
    """Listening sockets on the address, one per address family it resolves to.

    Bound before anything else is made, so that a busy port stops a start before it
    creates storage, a seal key or a root token. `serve` then uses these sockets.
    """
    host, port = parse_address(address)
    if not tls and not is_loopback(host):
        # Tokens and issued passwords would cross the network in clear.
        logger.warning(
            "listening without TLS on %s, which is not a loopback address: tokens and "
            "passwords cross the network in clear; set tls_cert_file and tls_key_file, or "
            "put a TLS-terminating proxy in front",
            address,
        )
    try:
        return listening_sockets(host, port)
    except socket.gaierror as exc:
        raise ServerError(f"cannot listen on {address}: {exc.strerror}") from None
    except OSError as exc:
        reason = "the address is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ServerError(f"cannot listen on {address}: {reason}") from None


async def serve(
    app: web.Application,
    *,
    address: str,
    ssl_context: ssl.SSLContext | None = None,
    on_ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
    sockets: Sequence[socket.socket] | None = None,
    limits: ListenerLimits = DEFAULT_LIMITS,
) -> None:
    """Serve until a signal (or `stop`) arrives, then shut down cleanly.

    `sockets` are those `bind` made for the address (with the matching `tls`); without
    them they are made here.
    """
    host, port = parse_address(address)
    if sockets is None:
        sockets = bind(address, tls=ssl_context is not None)
    _allow_open_files(limits.max_connections)
    runner = await start_serving(app, sockets, ssl_context=ssl_context, limits=limits)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The bound socket tells the real port when 0 was asked for.
    if port == 0 and sockets:
        port = sockets[0].getsockname()[1]
    scheme = "https" if ssl_context else "http"
    shown_host = f"[{host}]" if ":" in host else host
    if on_ready is not None:
        on_ready(f"{scheme}://{shown_host}:{port}")
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        logger.info("shutting down")
        await runner.cleanup()


# Descriptors beyond the connections: storage, audit files, the emulator, Graph calls.
_SPARE_FILES = 256


def _allow_open_files(max_connections: int) -> None:
    """Raise the soft open-file limit so that max_connections can be reached (Go raises
    it to the hard limit at start); warn when even the hard limit is too low."""
    try:
        import resource
    except ImportError:  # not on this platform
        return
    if max_connections <= 0:
        return
    wanted = max_connections + _SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        except (ValueError, OSError):
            raised = soft
        if raised < wanted:
            logger.warning(
                "the open-file limit (%d) is below max_connections (%d) plus %d spare: "
                "lower max_connections or raise the limit (ulimit -n)",
                raised,
                max_connections,
                _SPARE_FILES,
            )


_T = TypeVar("_T")


def run_loop(main: Coroutine[Any, Any, _T]) -> _T:
    """Run the server's coroutine on uvloop where it is installed (Linux, macOS), else on
    asyncio's own loop.

    Most of a lookup's time is the event loop and transports rather than our code;
    uvloop's C implementation of both serves ~8-10% more lookups per second
    (docs/performance.md, "Side by side"). Everything we use (signal handlers, executors,
    TLS) behaves the same on either loop.
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
