"""The TLS listener as users run it: clients verify with their CA, old TLS is refused,
and serving plain HTTP beyond loopback is warned about at start."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from pathlib import Path

import httpx
import hvac
import pytest
import trustme

from tests.server_process import Server, bao, command, free_port


def _tls_config(tmp_path: Path, port: int, *, min_version: str | None = None) -> Path:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "broker.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "broker.key"))
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    extra = f'  tls_min_version = "{min_version}"\n' if min_version else ""
    config = tmp_path / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
        '  tls_cert_file = "broker.pem"\n  tls_key_file = "broker.key"\n'
        f"{extra}}}\n"
        'storage "tinydb" {\n  path = "data/broker.json"\n}\n'
    )
    (tmp_path / "data").mkdir()
    return config


def _bao(addr: str, token: str, *args: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "BAO_ADDR": addr, "BAO_TOKEN": token, "HOME": str(home), **env}
    for name in ("VAULT_TOKEN", "BAO_CACERT", "VAULT_CACERT", "BAO_SKIP_VERIFY"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [bao(), *args], capture_output=True, text=True, env=environment, timeout=30
    )


def test_clients_verify_the_listener_with_their_ca(servers, tmp_path):
    port = free_port()
    config = _tls_config(tmp_path, port)
    server = Server(["server", "--config", str(config)])
    servers.append(server)
    root = server.wait_for(r"Root Token: (\S+)").group(1)
    assert f"server started on https://127.0.0.1:{port}" in server.output
    addr, ca = f"https://127.0.0.1:{port}", str(tmp_path / "ca.pem")

    # The CLI with BAO_CACERT: trusted.
    trusted = _bao(addr, root, "token", "lookup", "-format=json", home=tmp_path, BAO_CACERT=ca)
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout)["data"]["policies"] == ["root"]
    # Without it, the CLI refuses the unknown certificate.
    untrusted = _bao(addr, root, "token", "lookup", home=tmp_path)
    assert untrusted.returncode != 0 and "certificate" in untrusted.stderr

    # hvac with verify=<CA file>; and with the system store only, refused.
    assert hvac.Client(url=addr, token=root, verify=ca).is_authenticated()
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        hvac.Client(url=addr, token=root, verify=True).is_authenticated()
    assert server.stop() == 0


def test_tls_min_version_refuses_older_clients(servers, tmp_path):
    port = free_port()
    config = _tls_config(tmp_path, port, min_version="tls13")
    server = Server(["server", "--config", str(config)])
    servers.append(server)
    root = server.wait_for(r"Root Token: (\S+)").group(1)
    url = f"https://127.0.0.1:{port}/v1/auth/token/lookup-self"

    def client(maximum: ssl.TLSVersion) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        context.maximum_version = maximum
        return httpx.Client(verify=context, trust_env=False, timeout=10)

    with client(ssl.TLSVersion.TLSv1_3) as modern:
        assert modern.get(url, headers={"X-Vault-Token": root}).status_code == 200
    with client(ssl.TLSVersion.TLSv1_2) as old, pytest.raises(httpx.ConnectError):
        old.get(url, headers={"X-Vault-Token": root})
    assert server.stop() == 0


@pytest.mark.parametrize("version", ["tls10", "tls11", "ssl3", "TLS 1.3"])
def test_an_unsupported_tls_min_version_is_one_sentence(tmp_path, version):
    config = _tls_config(tmp_path, free_port(), min_version=version)
    result = subprocess.run(
        command() + ["server", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f'tls_min_version "{version}" is not supported; use "tls12" or "tls13"' in (
        result.stderr
    )


def test_plain_http_beyond_loopback_is_warned_about_at_start(tmp_path):
    # 192.0.2.1 (TEST-NET-1) is not on this machine: the warning comes, then binding fails,
    # so nothing ever listens beyond loopback.
    config = tmp_path / "broker.hcl"
    config.write_text(
        'listener "tcp" {\n  address = "192.0.2.1:8200"\n  tls_disable = true\n}\n'
        'storage "tinydb" {\n  path = "data/broker.json"\n}\n'
    )
    (tmp_path / "data").mkdir()
    result = subprocess.run(
        command() + ["server", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert "listening without TLS on 192.0.2.1:8200, which is not a loopback address" in (
        result.stderr
    )
    assert result.returncode == 1 and "cannot listen on 192.0.2.1:8200" in result.stderr


def test_plain_http_on_loopback_is_not_warned_about(servers, tmp_path):
    port = free_port()
    config = tmp_path / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        'storage "tinydb" {\n  path = "data/broker.json"\n}\n'
    )
    (tmp_path / "data").mkdir()
    server = Server(["server", "--config", str(config)])
    servers.append(server)
    server.wait_for(r"Root Token: (\S+)")
    assert server.stop() == 0
    assert "listening without TLS" not in server.output
