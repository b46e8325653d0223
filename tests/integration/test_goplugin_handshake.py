"""The plugin process as go-plugin's host sees it, without OpenBao: the handshake line,
AutoMTLS with the host's P-521 certificate, health, multiplexing, version, Shutdown."""

from __future__ import annotations

import base64
import datetime
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpclib.client import Channel
from grpclib.config import Configuration
from grpclib.exceptions import StreamTerminatedError

from goplugin.handshake import MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE
from goplugin.proto import (
    grpc_controller_grpc,
    grpc_controller_pb2,
    health_grpc,
    health_pb2,
    multiplexing_grpc,
    multiplexing_pb2,
    version_grpc,
    version_pb2,
)


@dataclass
class HostCert:
    cert_pem: bytes
    cert_path: Path
    key_path: Path


def _host_cert(folder: Path) -> HostCert:
    """A certificate like go-plugin's host makes: ECDSA P-521, self-signed, localhost."""
    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA512())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "host.pem").write_bytes(pem)
    (folder / "host-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return HostCert(pem, folder / "host.pem", folder / "host-key.pem")


@dataclass
class Started:
    proc: subprocess.Popen[str]
    fields: list[str]
    host: HostCert
    plugin_cert_pem: str

    def context(self, *, with_client_cert: bool = True) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(cadata=self.plugin_cert_pem)
        if with_client_cert:
            context.load_cert_chain(self.host.cert_path, self.host.key_path)
        context.set_alpn_protocols(["h2"])
        return context

    def channel(self, *, with_client_cert: bool = True) -> Channel:
        host, port = self.fields[3].rsplit(":", 1)
        return Channel(
            host,
            int(port),
            ssl=self.context(with_client_cert=with_client_cert),
            config=Configuration(ssl_target_name_override="localhost"),
        )


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Started]:
    host = _host_cert(tmp_path)
    env = dict(os.environ)
    env.update(
        {
            MAGIC_COOKIE_KEY: MAGIC_COOKIE_VALUE,
            "PLUGIN_PROTOCOL_VERSIONS": "5",
            "PLUGIN_MIN_PORT": "20000",
            "PLUGIN_MAX_PORT": "25000",
            "PLUGIN_CLIENT_CERT": host.cert_pem.decode(),
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "goplugin.entra"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        fields = line.split("|")
        der = base64.b64decode(fields[5] + "=" * (-len(fields[5]) % 4))
        pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
        yield Started(proc, fields, host, pem.decode())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def test_the_handshake_line(plugin: Started) -> None:
    core, app, network, address, protocol, cert = plugin.fields
    assert (core, app, network, protocol) == ("1", "5", "tcp", "grpc")
    host, port = address.rsplit(":", 1)
    assert host == "127.0.0.1" and 20000 <= int(port) <= 25000
    assert not cert.endswith("=")  # Go's RawStdEncoding
    parsed = x509.load_pem_x509_certificate(plugin.plugin_cert_pem.encode())
    names = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]


async def test_the_services_answer_the_host_and_shutdown_stops_it(plugin: Started) -> None:
    channel = plugin.channel()
    try:
        health = await health_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="plugin"), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        multiplexing = await multiplexing_grpc.PluginMultiplexingStub(channel).MultiplexingSupport(
            multiplexing_pb2.MultiplexingSupportRequest(), timeout=10
        )
        assert multiplexing.supported is True
        version = await version_grpc.PluginVersionStub(channel).Version(
            version_pb2.Empty(), timeout=10
        )
        assert version.plugin_version.startswith("v")
        await grpc_controller_grpc.GRPCControllerStub(channel).Shutdown(
            grpc_controller_pb2.Empty(), timeout=10
        )
    finally:
        channel.close()
    assert plugin.proc.wait(15) == 0


async def test_a_client_without_the_hosts_certificate_is_refused(plugin: Started) -> None:
    channel = plugin.channel(with_client_cert=False)
    try:
        # With TLS 1.3 the refusal comes after the client's handshake: the connection drops.
        with pytest.raises((ssl.SSLError, OSError, StreamTerminatedError)):
            await health_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="plugin"), timeout=10
            )
    finally:
        channel.close()
