"""sys/seal, sys/unseal, sys/init and sys/key-status: the seal as `bao operator` drives it.

This server has one seal key (the storage barrier's, mount.storage.barrier) and a
threshold of one: `bao operator unseal <key>` with that key unseals at once. Sealing
keeps the key out of reach of requests (the core answers 503 "Vault is sealed") and
pauses the expiry workers; the storage stays open, so unsealing resumes where it was.
"""

from __future__ import annotations

import base64
import binascii
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

from mount.ids import rfc3339
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response
from mount.sdk.openapi import legacy_schema
from mount.seal import Seal

if TYPE_CHECKING:
    from mount.core import Core, CoreSettings

__all__ = [
    "IDENTITY_SCHEMA",
    "SEAL_STATUS_SCHEMA",
    "SUDO_PATHS",
    "UNAUTHENTICATED_PATHS",
    "paths",
    "seal_status_body",
]

logger = logging.getLogger(__name__)

READ, UPDATE = Operation.READ, Operation.UPDATE
# Vault's root-protected seal path, and the ones served without a token.
SUDO_PATHS = ("seal",)
UNAUTHENTICATED_PATHS = ("unseal", "init")

_UNSEAL_FIELDS = {
    "key": Field(
        FieldType.STRING, "The seal key, base64 (or hex) as in the key file.", sensitive=True
    ),
    "reset": Field(FieldType.BOOL, "Discard the keys given so far (there is one step).", False),
    "migrate": Field(FieldType.BOOL, "Accepted for compatibility; there is no seal migration."),
}
_INIT_FIELDS = {
    name: Field(FieldType.STRING, "Accepted for compatibility; the server is initialized.")
    for name in (
        "secret_shares",
        "secret_threshold",
        "pgp_keys",
        "root_token_pgp_key",
        "recovery_shares",
        "recovery_threshold",
        "recovery_pgp_keys",
        "stored_shares",
    )
}


# The server's name and version, in every status answer (health, seal-status, unseal).
IDENTITY_SCHEMA = {"cluster_name": "string", "cluster_id": "string", "version": "string"}
SEAL_STATUS_SCHEMA = legacy_schema(
    type="string",
    initialized="boolean",
    sealed="boolean",
    t="integer",
    n="integer",
    progress="integer",
    storage_type="string",
    **IDENTITY_SCHEMA,
)
_INIT = legacy_schema(initialized="boolean")


def paths(core: Core) -> list[Path]:
    seal, settings = core.seal, core.settings
    return [
        Path(
            "seal",
            {UPDATE: partial(seal_now, seal)},
            help_synopsis="Seal the server: every request is refused until it is unsealed.",
        ),
        Path(
            "unseal",
            {UPDATE: partial(unseal, seal, settings)},
            _UNSEAL_FIELDS,
            help_synopsis="Unseal the server with its seal key.",
            response_schema=SEAL_STATUS_SCHEMA,
        ),
        Path(
            "init",
            {READ: init_read, UPDATE: init_write},
            _INIT_FIELDS,
            help_synopsis="Whether the server is initialized (always: at its first start).",
            response_schema=_INIT,
        ),
        Path(
            "key-status",
            {READ: partial(key_status, seal)},
            help_synopsis="The storage encryption key's term and install time.",
        ),
    ]


def seal_status_body(seal: Seal, settings: CoreSettings) -> dict[str, Any]:
    """Vault's seal status: a Shamir seal with one share, sealed or not."""
    return {
        "type": "shamir",
        "initialized": True,
        "sealed": seal.sealed,
        "t": 1,
        "n": 1,
        "progress": 0,
        "nonce": "",
        "recovery_seal": False,
        "version": settings.version,
        "migration": False,
        "cluster_name": settings.cluster_name,
        "cluster_id": settings.cluster_id,
        "storage_type": settings.storage_type,
    }


async def seal_now(seal: Seal, req: Request, d: FieldData) -> None:
    if not seal.can_unseal:
        raise InvalidRequestError(
            "this server's storage is not encrypted, so it has no seal key to unseal with; "
            "sealing it would stop it for good (stop the process instead)"
        )
    seal.seal()
    logger.warning("server sealed: every request is refused until `bao operator unseal`")


def _decode_key(text: str) -> bytes:
    """The submitted key as bytes: base64 as in the key file, or hex (Vault takes both)."""
    text = text.strip()
    try:
        return bytes.fromhex(text)
    except ValueError:
        pass
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError("'key' must be a valid hex or base64 string") from None


async def unseal(seal: Seal, settings: CoreSettings, req: Request, d: FieldData) -> Response:
    key_text: str = d.get("key") or ""
    if not key_text:
        if not d.get("reset"):
            raise InvalidRequestError(
                "'key' must be specified in request body as JSON, or 'reset' set to true"
            )
        return Reply(raw=seal_status_body(seal, settings))
    key = _decode_key(key_text)
    if seal.sealed:
        if not seal.matches(key):
            logger.warning("unseal refused: the key given is not the seal key")
            # Vault's words for a key that does not open the barrier.
            raise InvalidRequestError("cipher: message authentication failed")
        seal.unseal()
        logger.warning("server unsealed")
    return Reply(raw=seal_status_body(seal, settings))


async def init_read(req: Request, d: FieldData) -> Response:
    return Reply(raw={"initialized": True})


async def init_write(req: Request, d: FieldData) -> None:
    # As Vault on an initialized server; ours initializes itself at its first start.
    raise InvalidRequestError("Vault is already initialized")


async def key_status(seal: Seal, req: Request, d: FieldData) -> Response:
    # One key for the life of the storage: term 1; installed (loaded) at this start.
    return Reply(
        data={"term": 1, "install_time": rfc3339(seal.install_time)},
        data_at_top_level=True,
    )
