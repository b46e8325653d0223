"""The broker's core: routes a request to its mount, checks its token, registers leases."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from mount.http import ApiRequest
from mount.leases import LeaseManager
from mount.metrics import BrokerMetrics
from mount.router import MountEntry, MountTable
from mount.sdk.errors import PermissionDeniedError, UnsupportedOperationError, VaultError
from mount.sdk.framework import SecretType
from mount.sdk.logical import Operation, Request, Response, Storage
from mount.tokens import TokenEntry, TokenStore

__all__ = ["Core", "CoreSettings"]

logger = logging.getLogger(__name__)

_OPTIONAL_TOKEN = ("sys/internal/ui/mounts",)


@dataclass(frozen=True, slots=True)
class CoreSettings:
    default_lease_ttl: int = 768 * 3600
    max_lease_ttl: int = 768 * 3600
    storage_type: str = "tinydb"
    cluster_name: str = "entra-broker"
    cluster_id: str = ""
    version: str = "0.1.0"
    # Credential issues allowed per role (lease path) per interval; 0 turns the limit off.
    role_issue_limit: int = 30
    role_issue_interval: int = 60
    # Vault's lease-count quota per role and per mount; 0 means no limit.
    max_leases_per_role: int = 0
    max_leases_per_mount: int = 0


class Core:
    """Everything a request needs after HTTP parsing; built by `mount.app`."""

    def __init__(
        self,
        *,
        settings: CoreSettings,
        mounts: MountTable,
        tokens: TokenStore,
        leases: LeaseManager,
        metrics: BrokerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.mounts = mounts
        self.tokens = tokens
        self.leases = leases
        self.metrics = metrics or BrokerMetrics()

    def resolve_secret(self, mount: str, secret_type: str) -> tuple[SecretType, Storage] | None:
        """The secret type behind a lease, for the lease manager's renew and revoke."""
        entry = self.mounts.get(mount)
        if entry is None:
            return None
        found = entry.backend.secrets.get(secret_type)
        return None if found is None else (found, entry.storage)

    async def authenticate(
        self, api: ApiRequest, entry: MountEntry, rest: str
    ) -> TokenEntry | None:
        """The caller's token entry; None on paths the mount serves without a token."""
        path = api.path.rstrip("/")
        if entry.backend.special_paths.is_unauthenticated(rest):
            return None
        if path.startswith(_OPTIONAL_TOKEN):
            return await self.tokens.lookup(api.token)
        if not api.token:
            raise PermissionDeniedError()
        return await self.tokens.require(api.token)

    async def handle(self, api: ApiRequest) -> Response | None:
        """Serve one API request end to end; raises VaultError for the client."""
        entry, rest = self.mounts.match(api.path)
        token = await self.authenticate(api, entry, rest)
        request = Request(
            operation=api.operation,
            path=rest,
            data=api.data,
            storage=entry.storage,
            mount_point=entry.path,
            identity=token.accessor if token else "",
            context={"token": token, "token_id": api.token, "api": api, "core": self},
        )
        if api.method == "HEAD" and api.path.rstrip("/") != "sys/health":
            raise UnsupportedOperationError()
        response = await entry.backend.handle(request)
        if response is not None and response.secret is not None:
            response = await self._register(entry, api.path, response, token)
        return response

    async def _register(
        self, entry: MountEntry, path: str, response: Response, token: TokenEntry | None
    ) -> Response:
        """Persist the lease, then let the backend create the credential under it."""
        spec, issue = response.secret, response.issue
        assert spec is not None
        if issue is None:
            raise VaultError("the secrets engine returned a secret without an issue step")
        lease, data = await self.leases.issue(
            mount=entry.path,
            request_path=path.rstrip("/"),
            spec=spec,
            issue=issue,
            token_accessor=token.accessor if token else "",
        )
        return Response(
            data=data,
            warnings=response.warnings,
            lease_id=lease.lease_id,
            renewable=lease.renewable,
            lease_duration=lease.ttl,
        )

    async def handle_internal(
        self, operation: Operation, path: str, data: dict[str, Any], token: str
    ) -> Response | None:
        """Run a request as a client would, without HTTP (dev-mode bootstrap, tests)."""
        method = {Operation.READ: "GET", Operation.LIST: "LIST", Operation.DELETE: "DELETE"}
        api = ApiRequest(method.get(operation, "PUT"), operation, path, data, token)
        return await self.handle(api)
