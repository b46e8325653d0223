"""The `bao operator` paths this server does not serve, each refused with what it does instead.

Vault's key management (rekey, rotation, root generation), HA and Raft have no
counterpart in a single server over one sealed file; a client that reaches for them
gets a 400 naming the runbook, not a 404 that reads like a typo.
"""

from __future__ import annotations

from functools import partial

from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import FieldData
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response

__all__ = ["UNAUTHENTICATED_PATHS", "paths"]

_OPERATIONS = (Operation.READ, Operation.UPDATE, Operation.DELETE, Operation.LIST)

_ROOT = (
    "this server has no root token generation by unseal keys: make a root token on the "
    "server with `entra-broker operator generate-root --config <config file>` "
    "(see docs/operations.md#the-root-token)"
)
_REKEY = (
    "this server has one seal key and no rekey: the unseal key is the storage seal key "
    "(the seal key file or ENTRA_BROKER_SEAL_KEY); see docs/operations.md#the-seal-key"
)
_ROTATE = (
    "this server has no key rotation: its storage is encrypted with the one seal key for "
    "its whole life (term 1); see docs/operations.md#the-seal-key"
)
_HA = (
    "this server runs as a single node without high availability: there is no cluster "
    "to list or to step down from; see docs/operations.md#running-the-server"
)
_RAFT = (
    "this server's storage is a local file, not Raft: there are no peers or snapshots; "
    "back up the storage directory as docs/operations.md#backup-and-restore says"
)

# (pattern, sentence): every path the `bao operator` subcommands call that we refuse.
# Any step under each (attempt, update; init, verify, backup; keyring, root/init ...).
_STEP = "(?P<step>.+)"
REFUSED: tuple[tuple[str, str], ...] = (
    (f"generate-root/{_STEP}", _ROOT),
    (f"generate-root-token/{_STEP}", _ROOT),
    (f"rekey/{_STEP}", _REKEY),
    (f"rekey-recovery-key/{_STEP}", _REKEY),
    (r"rotate", _ROTATE),
    (f"rotate/{_STEP}", _ROTATE),
    (r"step-down", _HA),
    (r"ha-status", _HA),
    (f"storage/raft/{_STEP}", _RAFT),
)
# Root generation is reached without a token in Vault (its operator lost it).
UNAUTHENTICATED_PATHS = ("generate-root/*", "generate-root-token/*")


def paths() -> list[Path]:
    return [
        Path(
            pattern,
            dict.fromkeys(_OPERATIONS, partial(refuse, sentence)),
            help_synopsis="Not served by this server: " + sentence.split(":")[0] + ".",
        )
        for pattern, sentence in REFUSED
    ]


async def refuse(sentence: str, req: Request, d: FieldData) -> Response:
    raise InvalidRequestError(sentence)
