"""EntraBackend: joins the path table and the credential secret type; caches the Graph client."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, TypeVar

from mount.sdk import (
    Backend,
    BackendConfig,
    BackendFactory,
    InvalidRequestError,
    Storage,
    UnavailableError,
    VaultError,
)
from mount.sdk.ttl import TTLLimits, calculate_ttl, effective_max_ttl
from plugin import metrics as engine_metrics
from plugin import (
    path_config,
    path_creds,
    path_roles,
    path_rotate_root,
    path_users,
    secret_client_secret,
    secret_password,
    secret_tap,
)
from plugin.graph import DEFAULT_DEADLINE, DEFAULT_MAX_RETRY_AFTER, GraphClient, tls_context
from plugin.issue_guard import IssueGuard
from plugin.models import CONFIG_KEY, ROLE_PREFIX, Config, RecordError, Role
from plugin.record_cache import RecordCache
from plugin.token import TokenProvider

__all__ = ["EntraBackend", "factory"]

logger = logging.getLogger(__name__)

Record = TypeVar("Record")
# Graph operation deadlines a retired client stays open for (a handler runs a few).
_RETIRE_DEADLINES = 4


@dataclass(slots=True)
class Clients:
    """The msal app and the Graph client built for one exact config."""

    config: Config
    tokens: TokenProvider
    graph: GraphClient

    async def aclose(self) -> None:
        await self.graph.aclose()
        self.tokens.close()


class EntraBackend(Backend):
    """The Entra ID secrets engine: config, roles/<name>, creds/<name>, users, rotate-root.

    Graph and msal clients are built lazily for the stored config and rebuilt when it
    changes (Vault Azure engine's `reset`/`getClient`), so connections and the token
    cache are reused across requests.
    """

    def __init__(self, conf: BackendConfig) -> None:
        self.conf = conf
        # Before any Graph client exists: the mount exports the series from the start.
        conf.metrics.declare(engine_metrics.METRICS)
        # Seconds one Graph operation (retries included) may take; tests lower it.
        self.graph_deadline = DEFAULT_DEADLINE
        # The longest Retry-After from Graph that is honoured; tests lower it.
        self.graph_max_retry_after = DEFAULT_MAX_RETRY_AFTER
        # Seconds rotate-root waits for Entra to accept a new secret; tests lower it.
        self.rotate_accept_deadline = path_rotate_root.DEFAULT_ACCEPT_DEADLINE
        # One rotation of the engine's own secret at a time.
        self.rotate_lock = asyncio.Lock()
        self._clients: Clients | None = None
        self._clients_lock = asyncio.Lock()
        # Clients replaced by a config change, closed once the requests that took them
        # before the change can have finished (see _retire).
        self._retiring: dict[asyncio.Task[None], Clients] = {}
        self._user_locks: dict[str, asyncio.Lock] = {}
        # The parsed config and roles; every write of them goes through it.
        self.records = RecordCache()
        self._app_locks: dict[str, asyncio.Lock] = {}
        # The per-role issue limit and exclusive check-outs (both hosts: see issue_guard).
        self.issue_guard = IssueGuard(conf.config, self.mount_point)
        super().__init__(
            paths=[
                *path_config.paths(self),
                *path_roles.paths(self),
                *path_creds.paths(self),
                *path_users.paths(self),
                *path_rotate_root.paths(self),
            ],
            secrets=[
                self.issue_guard.revoking(secret_password.secret_type(self)),
                self.issue_guard.revoking(secret_tap.secret_type(self)),
                self.issue_guard.revoking(secret_client_secret.secret_type(self)),
            ],
            help_text=BACKEND_HELP,
            type_name="entra",
        )

    @property
    def mount_point(self) -> str:
        return self.conf.mount_point or "entra/"

    async def close(self) -> None:
        await self.install_clients(None)
        retiring, self._retiring = self._retiring, {}
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        for clients in retiring.values():
            await clients.aclose()

    # -- stored records --------------------------------------------------------------

    async def load_config(self, storage: Storage) -> Config | None:
        return await self.records.get(
            storage,
            CONFIG_KEY,
            partial(_load, storage, CONFIG_KEY, Config.from_storage, "the configuration", "config"),
        )

    async def require_config(self, storage: Storage, *, unavailable: bool = False) -> Config:
        """The stored config; a 400 (503 for background work) saying to write it first."""
        config = await self.load_config(storage)
        if config is None:
            message = (
                f"the Entra connection is not configured: write {self.mount_point}config "
                "first (tenant_id, client_id, client_secret)"
            )
            raise UnavailableError(message) if unavailable else InvalidRequestError(message)
        return config

    async def load_role(self, storage: Storage, name: str) -> Role | None:
        key = ROLE_PREFIX + name
        return await self.records.get(
            storage,
            key,
            partial(_load, storage, key, Role.from_storage, f'role "{name}"', f"roles/{name}"),
        )

    def issue_ttls(
        self, role: Role, requested: timedelta | None = None
    ) -> tuple[timedelta, timedelta, list[str]]:
        """(ttl, max_ttl, warnings) for a new lease of `role`: Vault's CalculateTTL.

        The requested ttl, else the role's, else the mount's default; capped at the
        effective max TTL (the role's max_ttl within the mount's), with Vault's warning.
        """
        limits = TTLLimits(
            mount_default=_seconds(self.conf.default_lease_ttl),
            mount_max=_seconds(self.conf.max_lease_ttl),
            ttl=_seconds(requested or role.ttl),
            max_ttl=_seconds(role.max_ttl),
        )
        # The host caps again with the same function; a lease starts now.
        ttl, warnings = calculate_ttl(limits, start=0, now=0)
        return timedelta(seconds=ttl), timedelta(seconds=effective_max_ttl(limits)), warnings

    def lease_ttls(self, role: Role) -> tuple[timedelta, timedelta]:
        """(ttl, max_ttl) for a lease of `role`: zero means the mount's default, ttl <= max."""
        max_ttl = role.max_ttl or self.conf.max_lease_ttl
        ttl = role.ttl or self.conf.default_lease_ttl
        return min(ttl, max_ttl), max_ttl

    # -- clients ---------------------------------------------------------------------

    async def build_clients(self, config: Config) -> Clients:
        """New msal and Graph clients for `config` (not yet installed)."""
        # Loading a CA store is file I/O and parsing: off the loop.
        context = await asyncio.to_thread(tls_context, config.ca_cert)
        tokens = TokenProvider(config, context)
        graph = GraphClient(
            config.graph_url,
            tokens,
            verify=context,
            deadline=self.graph_deadline,
            max_concurrent=config.max_graph_calls,
            metrics=self.conf.metrics,
        )
        return Clients(config, tokens, graph)

    async def install_clients(self, clients: Clients | None) -> None:
        """Make `clients` the cached ones and retire the previous ones (None: drop them)."""
        async with self._clients_lock:
            old, self._clients = self._clients, clients
        if old is not None and old is not clients:
            self._retire(old)

    def _retire(self, old: Clients) -> None:
        """Close `old` later: a request that took it before the config changed is still
        using it (closing it at once made that request a 500), and each of its Graph
        operations ends within the deadline, a handler doing a few of them in a row."""
        grace = _RETIRE_DEADLINES * self.graph_deadline

        async def close_later() -> None:
            await asyncio.sleep(grace)
            self._retiring.pop(task, None)
            await old.aclose()

        task = asyncio.create_task(close_later(), name="entra-clients-retire")
        self._retiring[task] = old

    async def graph(self, config: Config) -> GraphClient:
        """The cached Graph client for `config`, rebuilt when the config changed."""
        async with self._clients_lock:
            old = None
            if self._clients is None or self._clients.config != config:
                old, self._clients = self._clients, await self.build_clients(config)
                logger.debug("graph client built client_id=%s", config.client_id)
            current = self._clients
            current.graph.deadline = self.graph_deadline
            current.graph.max_retry_after = self.graph_max_retry_after
        if old is not None:
            self._retire(old)
        return current.graph

    def user_lock(self, object_id: str) -> asyncio.Lock:
        """Serializes password resets of one user inside this process."""
        return self._user_locks.setdefault(object_id, asyncio.Lock())

    def app_lock(self, object_id: str) -> asyncio.Lock:
        """Serializes credential changes of one application (a read then a removal)."""
        return self._app_locks.setdefault(object_id, asyncio.Lock())


async def _load(
    storage: Storage,
    key: str,
    parse: Callable[[Mapping[str, Any]], Record],
    what: str,
    path: str,
) -> Record | None:
    """A stored record, None when absent; a damaged one is a clear 500, not a traceback."""
    raw = await storage.get(key)
    if raw is None:
        return None
    try:
        return parse(raw)
    except (RecordError, ValueError, TypeError) as exc:
        raise VaultError(f"{what} is damaged in storage ({exc}); write {path} again") from None


async def factory(conf: BackendConfig) -> Backend:
    """Build the engine for one mount."""
    return EntraBackend(conf)


# mypy checks that the engine's entry point is what a host calls.
_FACTORY: BackendFactory = factory


BACKEND_HELP = """\
The Entra ID secrets engine hands out short-lived Azure Entra ID credentials under leases.

Write the application's tenant_id, client_id and client_secret to config, then bind each
role under roles/<name> to one Entra user (a password reset or a Temporary Access Pass) or
to one application (a client secret). Reading creds/<name> creates the credential through
Microsoft Graph and returns it under a lease; when the lease is revoked or expires, the
credential dies with it: the password is reset again to a value nobody is told, the pass
or the client secret is deleted.
"""


def _seconds(value: timedelta | None) -> int:
    return int(value.total_seconds()) if value else 0
