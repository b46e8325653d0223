"""go-plugin's handshake: the magic cookie, the protocol version, the line on stdout."""

from __future__ import annotations

import random
import socket
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "APP_PROTOCOL_VERSION",
    "CORE_PROTOCOL_VERSION",
    "MAGIC_COOKIE_KEY",
    "MAGIC_COOKIE_VALUE",
    "HandshakeError",
    "HostEnvironment",
    "bind_listener",
    "handshake_line",
]

# Vault's and OpenBao's handshake config (sdk/plugin/serve.go).
MAGIC_COOKIE_KEY = "VAULT_BACKEND_PLUGIN"
MAGIC_COOKIE_VALUE = "6669da05-b1c8-4f49-97d9-c8e5bed98e20"
CORE_PROTOCOL_VERSION = 1
# The gRPC backend protocol; 4 and below were net/rpc.
APP_PROTOCOL_VERSION = 5

NOT_A_COMMAND = (
    "This program is a secrets engine packaged as an OpenBao (or HashiCorp Vault) external "
    "plugin. It is not run by hand: OpenBao starts it after `bao plugin register` and "
    "`bao secrets enable`."
)


class HandshakeError(Exception):
    """The environment is not that of a go-plugin host: the message says what to do."""


@dataclass(frozen=True, slots=True)
class HostEnvironment:
    """What the host told us through the environment."""

    client_cert_pem: str
    min_port: int
    max_port: int

    @classmethod
    def from_environ(cls, env: Mapping[str, str], refusal: str = NOT_A_COMMAND) -> HostEnvironment:
        """The host's settings; `refusal` is said when no host started us (no cookie)."""
        if env.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
            raise HandshakeError(refusal)
        versions = [v.strip() for v in env.get("PLUGIN_PROTOCOL_VERSIONS", "").split(",")]
        if str(APP_PROTOCOL_VERSION) not in versions:
            raise HandshakeError(
                f"the host offers plugin protocol versions {versions}, this plugin speaks "
                f"only {APP_PROTOCOL_VERSION} (gRPC); upgrade OpenBao"
            )
        cert = env.get("PLUGIN_CLIENT_CERT", "")
        if not cert.strip():
            raise HandshakeError(
                "PLUGIN_CLIENT_CERT is not set: the host must run plugins with AutoMTLS "
                "(OpenBao always does)"
            )
        return cls(
            client_cert_pem=cert,
            min_port=int(env.get("PLUGIN_MIN_PORT", "10000")),
            max_port=int(env.get("PLUGIN_MAX_PORT", "25000")),
        )


def bind_listener(min_port: int, max_port: int, host: str = "127.0.0.1") -> socket.socket:
    """A listening TCP socket on a free port within the host's range."""
    ports = list(range(min_port, max_port + 1))
    random.shuffle(ports)
    for port in ports[:200]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        sock.setblocking(False)
        return sock
    raise HandshakeError(f"no free port between {min_port} and {max_port} on {host}")


def handshake_line(address: str, cert_field: str) -> str:
    """`CORE|APP|tcp|ADDRESS|grpc|CERT`, the one line the host reads from our stdout."""
    return f"{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|tcp|{address}|grpc|{cert_field}"
