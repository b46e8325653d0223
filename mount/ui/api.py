"""The dashboard's Vault client: every call goes through `Core.handle`, as the API's do.

A call is built as `mount.http.parse_request` builds one from HTTP (the same method to
operation mapping, a LIST path ending in "/"), with the signed-in user's token, so the
token's policies, the audit trail and the error sentences are exactly the API's. There
is no network hop and no privileged shortcut.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mount.core import Core
from mount.request import ApiRequest
from mount.sdk.errors import VaultError
from mount.sdk.logical import Operation

__all__ = ["ApiAnswer", "ApiFailure", "UiApi"]

_OPERATIONS = {
    "GET": Operation.READ,
    "LIST": Operation.LIST,
    "DELETE": Operation.DELETE,
    "PUT": Operation.UPDATE,
    "POST": Operation.UPDATE,
}


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    """A successful answer: the envelope's data, warnings and lease fields."""

    status: int = 204
    data: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    lease_id: str = ""
    lease_duration: int = 0
    renewable: bool = False
    # A login's auth block (client_token, policies...): only the OIDC sign-in reads it.
    auth: dict[str, Any] | None = field(default=None, repr=False)


class ApiFailure(Exception):
    """An API error, with its status and the sentences the API answered."""

    def __init__(self, status: int, errors: list[str]) -> None:
        super().__init__("; ".join(errors) or f"status {status}")
        self.status = status
        self.errors = errors

    @property
    def sentence(self) -> str:
        """The errors as one readable text (Vault's multierror framing removed)."""
        parts = []
        for error in self.errors or [_EMPTY.get(self.status, f"error {self.status}")]:
            lines = [ln.strip().removeprefix("* ") for ln in error.splitlines()]
            kept = [ln for ln in lines if ln and not ln.endswith("error occurred:")]
            kept = [ln for ln in kept if not ln.endswith("errors occurred:")]
            parts.append("; ".join(kept) or error)
        return "; ".join(parts)


_EMPTY = {404: "nothing found at this path", 403: "permission denied"}


class UiApi:
    """Calls the core as the signed-in user."""

    def __init__(self, core: Core) -> None:
        self.core = core

    def oidc_methods(self) -> list[str]:
        """Paths (relative to auth/) of the enabled `oidc` auth methods, for the sign-in
        page's button: whether one exists is no secret (its login paths need no token)."""
        return sorted(
            entry.path.removeprefix("auth/")
            for entry in self.core.mounts.entries()
            if entry.kind == "auth" and entry.type == "oidc"
        )

    async def call(
        self,
        token: str,
        method: str,
        path: str,
        data: dict[str, Any] | None = None,
        *,
        remote: str = "",
    ) -> ApiAnswer:
        """One API call; raises ApiFailure with the API's own status and sentences."""
        operation = _OPERATIONS[method]
        if operation is Operation.LIST:
            path = path.rstrip("/") + "/"
        data = dict(data or {})
        # As parse_request: a read carries its parameters as the query string too.
        query = {k: str(v) for k, v in data.items()} if operation is Operation.READ else {}
        api = ApiRequest(method, operation, path, data, token, query, remote)
        try:
            response = await self.core.handle(api)
        except VaultError as exc:
            raise ApiFailure(exc.status, exc.errors) from None
        if response is None or (response.empty and response.auth is None):
            return ApiAnswer(status=204 if response is None else response.status)
        body = response.raw if response.raw is not None else response.data
        return ApiAnswer(
            status=response.status,
            data=dict(body or {}),
            warnings=tuple(response.warnings),
            lease_id=response.lease_id,
            lease_duration=response.lease_duration,
            renewable=response.renewable,
            auth=response.auth,
        )
