"""The logical request/response seam between the mount and a backend (Vault's sdk/logical)."""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mount.sdk.storage import BatchStorage, Storage
from mount.sdk.telemetry import MetricsSink, NullSink

__all__ = [
    "BackendConfig",
    "BatchStorage",
    "IssueFn",
    "Issued",
    "LoginSpec",
    "Operation",
    "Request",
    "Response",
    "SecretRequest",
    "SecretSpec",
    "SecretTTL",
    "Storage",
]


class Operation(enum.Enum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    LIST = "list"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class Request:
    """One API call, as a backend sees it.

    `path` is relative to the mount (`creds/alice`); `data` is the merged body or query;
    `identity` names the caller for audit (a token accessor or display name, never a token).
    """

    operation: Operation
    path: str
    data: Mapping[str, Any]
    storage: Storage
    mount_point: str = ""
    identity: str = ""
    # The client's IP address, from the connection itself (never a forwarded header).
    remote_address: str = ""


@dataclass(frozen=True, slots=True)
class Issued:
    """What an issue step created: the credential for the client (`data`) and what
    revoke/renew will need later (`internal`, JSON-serializable, no secrets), which the
    mount stores with the activated lease in place of the spec's pending internal data.
    None keeps the spec's internal data as it was."""

    data: dict[str, Any]
    internal: Mapping[str, Any] | None = None


IssueFn = Callable[[], Awaitable[Issued]]


@dataclass(frozen=True, slots=True)
class LoginSpec:
    """A login an auth method accepted: what the token it earns may do (Vault's logical.Auth).

    The mount, not the backend, mints the token: it adds the `default` policy (unless
    `no_default_policy`), caps the TTLs by the mount's and the system's max, and refuses
    `root`. A zero `ttl` or `max_ttl` means the mount's default or max. Each renewal of
    the token asks the method again (`Backend.renew_auth`), with this spec as the token
    has it.
    """

    policies: tuple[str, ...]
    metadata: Mapping[str, str] = field(default_factory=dict)
    ttl: timedelta = timedelta(0)
    max_ttl: timedelta = timedelta(0)
    explicit_max_ttl: timedelta = timedelta(0)
    period: timedelta = timedelta(0)
    num_uses: int = 0
    # CIDR blocks the token may be used from; empty means anywhere.
    bound_cidrs: tuple[str, ...] = ()
    no_default_policy: bool = False
    # Kept with the token, never shown, and handed back to the method when the token is
    # renewed (Vault's Auth.InternalData): what the method needs to re-check the login.
    internal: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """A credential a handler asks the mount to put under a lease.

    `internal` is what `revoke`/`renew` will need later (JSON-serializable, no secrets).
    It is stored with the pending lease before `issue()` runs; `issue()` returns an
    `Issued` whose `internal` adds what only creating the credential tells (such as the
    credential's id), and the mount stores that with the activated lease. Revoke must
    therefore also cope with the pending form (the credential may exist without its id
    being stored).
    `holder_key` names the thing the credential controls (one Entra user): a host that
    can may end the holder's earlier leases when the new one is issued, since their
    credential no longer works (our server does; OpenBao revokes them at expiry, so an
    engine's revoke must spare a credential that a newer one replaced). Refusing a
    second check-out is the engine's own rule, enforced in issue(), so that it holds in
    every host.
    """

    type: str
    internal: Mapping[str, Any]
    ttl: timedelta
    max_ttl: timedelta
    renewable: bool = True
    holder_key: str | None = None


@dataclass(frozen=True, slots=True)
class SecretTTL:
    """The TTLs a backend allows on renewal (Vault's backend ttl and max_ttl)."""

    ttl: timedelta
    max_ttl: timedelta


@dataclass(frozen=True, slots=True)
class SecretRequest:
    """What a secret type's renew/revoke callback gets: its storage and its internal data."""

    storage: Storage
    internal: Mapping[str, Any]
    lease_path: str = ""


@dataclass(slots=True)
class Response:
    """What a handler returns; None from a handler means 204 No Content.

    A credential is returned as `secret` plus `issue`: the mount persists the lease
    first and only then awaits `issue()` to create the credential and produce `data`,
    so that no credential ever exists without a lease behind it.
    """

    data: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    secret: SecretSpec | None = None
    issue: IssueFn | None = None
    # Set by auth methods' login paths: the mount mints a token and fills `auth`.
    login: LoginSpec | None = None
    # The HTTP status of an answer with a body (202 for work started in the background).
    status: int = 200

    def carries_warnings(self) -> bool:
        """Whether the answer's body has room for warnings (the host's raw bodies do not)."""
        return True


@dataclass(frozen=True, slots=True)
class BackendConfig:
    """What a backend factory gets from the mount."""

    storage: Storage
    logger: logging.Logger
    default_lease_ttl: timedelta
    max_lease_ttl: timedelta
    mount_point: str = ""
    # Where the backend reports metrics declared in mount.sdk.telemetry.METRICS.
    metrics: MetricsSink = field(default_factory=NullSink)
    # The mount's options as strings (Vault's BackendConfig.Config: `secrets enable
    # -options=k=v` under OpenBao; our server passes its own engine settings here).
    config: Mapping[str, str] = field(default_factory=dict)
