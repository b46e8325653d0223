"""A throwaway CA and a server certificate from trustme, written to a directory."""

from __future__ import annotations

import os
import ssl
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["DEFAULT_NAMES", "CertificateFiles", "write_certificates"]

DEFAULT_NAMES = ("127.0.0.1", "localhost", "::1")
CA_FILE = "ca.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"


@dataclass(frozen=True, slots=True)
class CertificateFiles:
    """Where the CA (for clients to trust) and the server's chain and key were written."""

    ca_path: Path
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically (readers never see half a file), created with `mode`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_certificates(cert_dir: Path, hostnames: Sequence[str] = ()) -> CertificateFiles:
    """A new RSA CA and server certificate for 127.0.0.1, localhost, ::1 and `hostnames`.

    Writes ca.pem, server.pem (the chain) and server-key.pem (mode 0600) to `cert_dir`,
    replacing earlier ones; the CA's own key stays in memory and is dropped.
    """
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    names = list(dict.fromkeys([*DEFAULT_NAMES, *hostnames]))
    leaf = ca.issue_cert(*names, key_type=trustme.KeyType.RSA)
    files = CertificateFiles(cert_dir / CA_FILE, cert_dir / CERT_FILE, cert_dir / KEY_FILE)
    _write(files.key_path, leaf.private_key_pem.bytes(), 0o600)
    _write(files.cert_path, b"".join(blob.bytes() for blob in leaf.cert_chain_pems), 0o644)
    _write(files.ca_path, ca.cert_pem.bytes(), 0o644)
    return files
