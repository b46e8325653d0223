"""`serve(factory)`: run any mount.sdk backend as an OpenBao/Vault external plugin.

Checks the magic cookie, listens with AutoMTLS on a loopback port in the host's range,
prints the handshake line, serves until the host asks us to stop (the controller's
Shutdown, SIGTERM) or goes away (our parent process changes), then exits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine, Mapping
from typing import Any

from grpclib.server import Server

from goplugin import services
from goplugin.backend_service import BackendService
from goplugin.broker import Broker
from goplugin.handshake import (
    NOT_A_COMMAND,
    HandshakeError,
    HostEnvironment,
    bind_listener,
    handshake_line,
)
from goplugin.logs import setup_logging
from goplugin.mounts import Factory
from goplugin.tls import client_context, new_certificate, server_context

__all__ = ["serve"]

logger = logging.getLogger(__name__)

# Seconds between checks that the host process is still our parent.
PARENT_POLL = 1.0
# Seconds the server waits for open calls once it stops.
STOP_GRACE = 5.0


def serve(
    factory: Factory,
    *,
    version: str = "",
    refusal: str = NOT_A_COMMAND,
    env: Mapping[str, str] | None = None,
) -> int:
    """Serve `factory`'s backend to the host that started us; returns the exit code.

    `version` is what the host records for the plugin (`v1.2.3`, or "" for none);
    `refusal` is printed, with exit code 1, when the program is run without a host.
    """
    environ = os.environ if env is None else env
    try:
        host = HostEnvironment.from_environ(environ, refusal)
    except HandshakeError as exc:
        print(exc, file=sys.stderr)
        return 1
    setup_logging(os.environ.get("GOPLUGIN_LOG_LEVEL", "INFO"))
    # Ctrl-C in a terminal reaches the whole process group: the host decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _run(_serve(factory, version, host))
    return 0


def _run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it is installed: every request crosses two TLS connections (the
    host's and the broker's), and uvloop's TLS and transports are C, asyncio's Python."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


async def _serve(factory: Factory, version: str, host: HostEnvironment) -> None:
    parent = os.getppid()
    own = new_certificate()
    stopping = asyncio.Event()
    broker = Broker(client_context(own, host.client_cert_pem))
    backend = BackendService(factory, broker)
    server = Server(
        [
            services.Health(),
            services.Controller(stopping),
            services.Stdio(stopping),
            services.Version(version),
            services.Multiplexing(),
            broker,
            backend,
        ]
    )
    sock = bind_listener(host.min_port, host.max_port)
    address = "{}:{}".format(*sock.getsockname()[:2])
    await server.start(sock=sock, ssl=server_context(own, host.client_cert_pem))
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    sys.stdout.write(handshake_line(address, own.handshake_field) + "\n")
    sys.stdout.flush()
    # Nothing else may reach stdout: the host reads it as the plugin's protocol channel.
    sys.stdout = sys.stderr
    logger.info("serving on %s (pid %d)", address, os.getpid())
    watcher = asyncio.create_task(_watch_parent(parent, stopping))
    await stopping.wait()
    watcher.cancel()
    await backend.close()
    server.close()
    try:
        await asyncio.wait_for(server.wait_closed(), STOP_GRACE)
    except TimeoutError:
        logger.warning("calls still open after %.0fs; exiting anyway", STOP_GRACE)
    logger.info("stopped")


async def _watch_parent(parent: int, stopping: asyncio.Event) -> None:
    """Stop when the host is gone: OpenBao can leave a plugin behind after a failed load,
    and a killed server never calls Shutdown."""
    while os.getppid() == parent:
        await asyncio.sleep(PARENT_POLL)
    logger.info("the host process %d is gone; stopping", parent)
    stopping.set()
