"""Encryption of storage values at rest with AES-256-GCM, and loading of the seal key."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_ENV",
    "KEY_SIZE",
    "Barrier",
    "BarrierError",
    "key_fingerprint",
    "load_seal_key",
]

KEY_ENV = "ENTRA_BROKER_SEAL_KEY"
KEY_SIZE = 32
_NONCE_SIZE = 12
# The version names the key a token was sealed with, so that a rotation can add "v2:"
# tokens while "v1:" ones are still readable.
_VERSION = "v1"
_FINGERPRINT_LABEL = b"entra-broker seal key fingerprint v1"


class BarrierError(Exception):
    """A seal key is missing, malformed or wrong, or a sealed value does not decrypt."""


class Barrier:
    """Seals values with one AES-256-GCM key; the storage key is bound as associated data.

    Binding the storage key means a sealed value copied to another key (a role's entry
    pasted over the config entry, say) fails to open instead of being read as that entry.
    """

    __slots__ = ("_aead", "fingerprint")

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_SIZE:
            raise BarrierError(f"the seal key must be {KEY_SIZE} bytes, not {len(key)}")
        self._aead = AESGCM(key)
        # Stored next to the data, so that opening with another key is refused up front
        # instead of failing entry by entry.
        self.fingerprint = key_fingerprint(key)

    def __repr__(self) -> str:
        return "Barrier(key=<redacted>)"

    def seal(self, storage_key: str, plaintext: bytes) -> str:
        """Encrypt `plaintext` for `storage_key`; returns `v1:<base64(nonce + ciphertext)>`."""
        # A random 96-bit nonce per value: with one key, collisions stay negligible far
        # beyond the number of writes this store will ever see (NIST SP 800-38D, 2^32).
        nonce = secrets.token_bytes(_NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, plaintext, storage_key.encode("utf-8"))
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, storage_key: str, token: str) -> bytes:
        """Decrypt a token made by `seal` for the same `storage_key`."""
        failure = f"cannot decrypt storage entry {storage_key}: wrong seal key or corrupted data"
        version, sep, body = token.partition(":") if isinstance(token, str) else ("", "", "")
        if not sep or version != _VERSION:
            raise BarrierError(failure)
        try:
            # What b64decode(validate=True) does (and refuses), minus its wrapper: this
            # runs once per lease at start.
            raw = binascii.a2b_base64(body, strict_mode=True)
        except (binascii.Error, ValueError):
            raise BarrierError(failure) from None
        if len(raw) < _NONCE_SIZE + 16:
            raise BarrierError(failure)
        try:
            return self._aead.decrypt(
                raw[:_NONCE_SIZE], raw[_NONCE_SIZE:], storage_key.encode("utf-8")
            )
        except InvalidTag:
            raise BarrierError(failure) from None


def key_fingerprint(key: bytes) -> str:
    """A short public identifier of a seal key, stored to detect a wrong key at open.

    It is a hash of an HMAC of a fixed label, so it reveals nothing about the key.
    """
    tag = hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).digest()
    return hashlib.sha256(tag).hexdigest()[:16]


def _decode_key(text: str, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_SIZE:
        raise BarrierError(
            f"{source} must hold the base64 encoding of exactly {KEY_SIZE} bytes "
            "(make one with: openssl rand -base64 32)"
        )
    return key


def load_seal_key(env: Mapping[str, str], key_file: Path) -> bytes:
    """The seal key: from `ENTRA_BROKER_SEAL_KEY` if set, else from `key_file`.

    A missing key file is created with 32 random bytes and mode 0600. An existing one
    readable by group or others is refused rather than trusted.
    """
    if KEY_ENV in env:
        return _decode_key(env[KEY_ENV], KEY_ENV)
    try:
        return _read_key_file(key_file)
    except FileNotFoundError:
        pass
    _create_key_file(key_file)
    return _read_key_file(key_file)


def _read_key_file(path: Path) -> bytes:
    # Symlinks are followed: Kubernetes mounts secrets as links into a `..data/` folder.
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise  # the caller creates the file
    except OSError as exc:
        raise BarrierError(f"cannot read the seal key file {path}: {exc.strerror}") from None
    try:
        # fstat on the open file, not stat on the path: the file checked is the file read.
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise BarrierError(f"the seal key file {path} is not a regular file")
        if mode & 0o077:
            raise BarrierError(
                f"the seal key file {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}` and start again"
            )
        with os.fdopen(os.dup(fd), "r", encoding="ascii", errors="replace") as handle:
            text = handle.read(4096)
    finally:
        os.close(fd)
    return _decode_key(text, f"the seal key file {path}")


def _create_key_file(path: Path) -> None:
    """Create the key file with mode 0600 without ever exposing a partial file.

    The key is written and fsynced under a temporary name, then linked into place:
    `link` fails if the name exists, so a concurrent starter's key is never replaced,
    and a crash leaves either no key file or a complete one.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = base64.b64encode(secrets.token_bytes(KEY_SIZE)).decode("ascii") + "\n"
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    try:
        fd = os.open(temp, flags, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return  # another process created it first; its key wins
        except OSError:
            # Filesystems without hard links: exclusive create is still no-clobber.
            fd = os.open(path, flags, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        _fsync_dir(path.parent)
    except FileExistsError:
        return
    except OSError as exc:
        raise BarrierError(f"cannot create the seal key file {path}: {exc.strerror}") from None
    finally:
        temp.unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot fsync a directory; the rename is still atomic
    finally:
        os.close(fd)
