"""The `tidy/secret-id` path: sweep expired secret ids out of storage now."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from mount.sdk import FieldData, Operation, Path, Request, Response

if TYPE_CHECKING:
    from mount.auth.approle.backend import AppRoleBackend

__all__ = ["paths"]

TIDY_STARTED = (
    "Tidy operation successfully started. Any information from the operation will be "
    "printed to entra-broker's server logs."
)


def paths(b: AppRoleBackend) -> list[Path]:
    return [
        Path(
            "tidy/secret-id",
            {Operation.UPDATE: partial(tidy, b)},
            help_synopsis="Delete expired secret ids and dangling accessors now.",
            help_description="The method also does this by itself about once a minute.",
            accepted=True,
        )
    ]


async def tidy(b: AppRoleBackend, req: Request, d: FieldData) -> Response:
    # Vault runs tidy in the background and answers 202; ours is quick enough to finish
    # first, so the answer means it is done.
    await b.tidy(req.storage)
    return Response(status=202, warnings=[TIDY_STARTED])
