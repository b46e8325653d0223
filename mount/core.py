"""The broker's core: routes a request to its mount, checks its token, registers leases."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from typing import Any

from mount.audit.broker import AuditBroker
from mount.caller import Caller, calling
from mount.leases.manager import LeaseManager
from mount.leases.settings import LeaseSettings
from mount.metrics import BrokerMetrics
from mount.mounts import MountEntry, MountTable
from mount.policy.acl import ACL, ROOT_ACL, capability_of
from mount.policy.store import PolicyStore
from mount.reply import Reply, as_reply
from mount.request import ApiRequest
from mount.sdk.errors import (
    InvalidRequestError,
    PermissionDeniedError,
    UnavailableError,
    UnsupportedOperationError,
    VaultError,
    multierror,
)
from mount.sdk.framework import SecretType
from mount.sdk.logical import Operation, Request, Response, Storage
from mount.sdk.ratelimit import DEFAULT_ISSUE_LIMIT
from mount.seal import Seal
from mount.tokens.login import issue_login_token
from mount.tokens.store import TokenEntry, TokenStore
from mount.tokens.wrapping import TOKEN_PATHS, Wrapping, wrappable

__all__ = ["Core", "CoreSettings"]

logger = logging.getLogger(__name__)

_UI_MOUNTS = "sys/internal/ui/mounts"
# Control characters (C0 and DEL): no Vault path holds one, and a decoded `%0A` once let
# `creds/bob\n` route as `creds/bob` past a rule written for `creds/bob`.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _token_optional(path: str) -> bool:
    """Paths served with or without a token (Vault's UI preflight): exactly these."""
    return path == _UI_MOUNTS or path.startswith(_UI_MOUNTS + "/")


# What a sealed server still answers, as Vault: its status, and the way out (sys/unseal).
_SERVED_SEALED = frozenset({"sys/seal-status", "sys/health", "sys/unseal", "sys/leader"})


def check_unsealed(seal: Seal, api: ApiRequest) -> None:
    """Refuse every request of a sealed server but its status paths (503, Vault's words)."""
    if not seal.sealed:
        return
    path = api.path.rstrip("/")
    if path in _SERVED_SEALED or (path == "sys/init" and api.operation is Operation.READ):
        return
    raise UnavailableError("Vault is sealed")


def check_request_path(path: str) -> None:
    """Refuse a path holding a control character, before any route or rule sees it."""
    found = _CONTROL.search(path)
    if found is not None:
        raise InvalidRequestError(
            f"the request path holds a control character (0x{ord(found.group()):02x} at "
            f"position {found.start()}); paths may not contain control characters, "
            "percent-encoded or not"
        )


# Credential issues allowed per role per minute unless the config says (the engine
# enforces it: mount.sdk.ratelimit).
DEFAULT_ROLE_ISSUE_LIMIT = DEFAULT_ISSUE_LIMIT


@dataclass(frozen=True, slots=True)
class CoreSettings:
    """The server-wide settings; the lease knobs (TTL bounds included) are `leases`."""

    storage_type: str = "tinydb"
    cluster_name: str = "entra-broker"
    cluster_id: str = ""
    version: str = "0.1.0"
    leases: LeaseSettings = field(
        default_factory=lambda: LeaseSettings(role_issue_limit=DEFAULT_ROLE_ISSUE_LIMIT)
    )

    @property
    def default_lease_ttl(self) -> int:
        return self.leases.default_lease_ttl

    @property
    def max_lease_ttl(self) -> int:
        return self.leases.max_lease_ttl

    def with_leases(self, **changes: Any) -> CoreSettings:
        """These settings with some lease knobs changed (tests shorten the retry clock)."""
        return replace(self, leases=replace(self.leases, **changes))


class Core:
    """Everything a request needs after HTTP parsing; built by `mount.http.app`."""

    def __init__(
        self,
        *,
        settings: CoreSettings,
        mounts: MountTable,
        tokens: TokenStore,
        leases: LeaseManager,
        policies: PolicyStore,
        audit: AuditBroker,
        metrics: BrokerMetrics | None = None,
        wrapping: Wrapping,
        seal: Seal | None = None,
    ) -> None:
        self.settings = settings
        self.mounts = mounts
        self.tokens = tokens
        self.leases = leases
        self.policies = policies
        self.audit = audit
        self.metrics = metrics or BrokerMetrics()
        self.wrapping = wrapping
        # Without a seal key (tests' unencrypted stores) the server can seal but never unseal.
        self.seal = seal or Seal(None)

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
        if entry.backend.special_paths.is_unauthenticated(rest):
            return None
        if _token_optional(api.path.rstrip("/")):
            return await self.tokens.lookup(api.token)
        if not api.token:
            raise PermissionDeniedError()
        return await self.tokens.require(api.token, remote=api.remote)

    async def authorize(
        self, api: ApiRequest, entry: MountEntry, rest: str, token: TokenEntry
    ) -> ACL:
        """Check the token's policies allow this request (Vault's ACL), before routing."""
        acl = await self.policies.acl(token.policies)
        if acl.root or api.operation is Operation.HELP:
            return acl
        paths = [api.path]
        canonical = entry.path + entry.backend.canonical_path(rest)
        if canonical != api.path:
            paths.append(canonical)  # the name as the backend will use it must pass too
        for path in paths:
            if not await self._allowed(api, entry, rest, acl, path):
                raise PermissionDeniedError(multierror("permission denied"))
        return acl

    async def _allowed(
        self, api: ApiRequest, entry: MountEntry, rest: str, acl: ACL, path: str
    ) -> bool:
        if api.operation is Operation.LIST and not path.endswith("/"):
            path += "/"  # as Vault: a list is checked against the path with a slash
        caps = acl.capabilities(path)
        if api.operation in (Operation.CREATE, Operation.UPDATE):
            writes = caps & {"create", "update"}
            if len(writes) == 1:
                probe = Request(
                    operation=api.operation,
                    path=rest,
                    data=api.data,
                    storage=entry.storage,
                    mount_point=entry.path,
                )
                operation = await entry.backend.write_operation(probe)
                allowed = capability_of(operation) in caps
            else:
                allowed = bool(writes)
        else:
            allowed = capability_of(api.operation) in caps
        if allowed and entry.backend.special_paths.needs_sudo(rest):
            allowed = "sudo" in caps
        if allowed and not acl.wrapping_allows(path, api.wrap_ttl):
            allowed = False  # the policy's min/max_wrapping_ttl, as Vault's ACL checks
        return allowed

    async def handle(self, api: ApiRequest) -> Reply | None:
        """Serve one API request end to end; raises VaultError for the client.

        The audit trail records the request before anything is done for it and the
        response before the client sees it; if no audit device can, the request fails.
        A request its token's policies deny is recorded as refused, as in Vault.
        """
        check_unsealed(self.seal, api)
        trail = self.audit.trail(api)
        try:
            check_request_path(api.path)
            if api.path.rstrip("/") in TOKEN_PATHS and api.operation is not Operation.HELP:
                # Vault checks the wrapping token before the caller's token.
                await self.wrapping.check(api.data.get("token"), api.token)
            entry, rest = self.mounts.match(api.path)
            token = await self.authenticate(api, entry, rest)
            acl = ROOT_ACL
            if token is not None and not _token_optional(api.path.rstrip("/")):
                acl = await self.authorize(api, entry, rest, token)
        except Exception as exc:
            await trail.refused(exc)
            raise
        await trail.request(entry, token, entry.backend.sensitive_fields(rest))
        used_up = False
        try:
            if token is not None and token.num_uses != 0:  # -1: its last use is in flight
                token, used_up = await self.tokens.use(token)
            response = await self._serve(api, entry, rest, token, acl)
            if api.wrap_ttl and api.operation is not Operation.HELP and wrappable(response):
                assert response is not None
                response = await self.wrapping.wrap(
                    response,
                    ttl=api.wrap_ttl,
                    path=api.path,
                    request_id=api.request_id,
                    mount_type=entry.type,
                    display_name=token.display_name if token else "",
                )
        except Exception as exc:
            await trail.response(None, exc)
            raise
        finally:
            if used_up and token is not None:
                # The last use is served, then the token ends, as in Vault.
                await self.tokens.revoke_entry(token)
        await trail.response(response)
        return response

    async def _serve(
        self,
        api: ApiRequest,
        entry: MountEntry,
        rest: str,
        token: TokenEntry | None,
        acl: ACL,
    ) -> Reply | None:
        request = Request(
            operation=api.operation,
            path=rest,
            data=api.data,
            storage=entry.storage,
            mount_point=entry.path,
            identity=token.accessor if token else "",
            remote_address=api.remote,
        )
        if api.method == "HEAD" and api.path.rstrip("/") != "sys/health":
            raise UnsupportedOperationError()
        caller = Caller(token, api.token, acl, api.accept, api.wrap_ttl)
        response = await self._dispatch(entry, request, caller)
        if response is None:
            return None
        if api.operation is Operation.HELP:
            # Help is data to the backend and Vault's bare {"help", "openapi"} on the wire.
            return Reply(raw=response.data)
        if response.secret is not None:
            return await self._register(entry, api.path, response, token)
        if response.login is not None:
            return await issue_login_token(
                self.tokens,
                response,
                mount_path=entry.path,
                request_path=api.path,
                mount_default=entry.default_lease_ttl or self.settings.default_lease_ttl,
                mount_max=entry.max_lease_ttl or self.settings.max_lease_ttl,
            )
        return as_reply(response)

    async def _dispatch(
        self, entry: MountEntry, request: Request, caller: Caller
    ) -> Response | None:
        if not entry.builtin:
            return await entry.backend.handle(request)
        with calling(caller):
            return await entry.backend.handle(request)

    async def _register(
        self, entry: MountEntry, path: str, response: Response, token: TokenEntry | None
    ) -> Reply:
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
            mount_default=entry.default_lease_ttl,
            mount_max=entry.max_lease_ttl,
        )
        return Reply(
            data=data,
            warnings=response.warnings,
            lease_id=lease.lease_id,
            renewable=lease.renewable,
            lease_duration=lease.ttl,
        )

    async def handle_internal(
        self, operation: Operation, path: str, data: dict[str, Any], token: str
    ) -> Reply | None:
        """Run a request as a client would, without HTTP (dev-mode bootstrap, tests)."""
        method = {Operation.READ: "GET", Operation.LIST: "LIST", Operation.DELETE: "DELETE"}
        api = ApiRequest(method.get(operation, "PUT"), operation, path, data, token)
        return await self.handle(api)
