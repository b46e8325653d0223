"""AppRole records (roles, secret ids) and how they are keyed and hashed in storage."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "ACCESSOR_PREFIX",
    "ROLE_ID_PREFIX",
    "ROLE_PREFIX",
    "SECRET_ID_PREFIX",
    "Role",
    "SecretId",
    "go_time",
    "new_hmac_key",
    "role_id_key",
    "secret_id_hmac",
    "secret_id_key",
]

ROLE_PREFIX = "role/"
# role_id/<sha256 of the role id> -> {"name": role}: login finds the role by its id.
ROLE_ID_PREFIX = "role_id/"
# secret_id/<role>/<hmac of the secret id> -> SecretId: the secret id itself is never stored.
SECRET_ID_PREFIX = "secret_id/"
# accessor/<accessor> -> {"role": ..., "secret_id_hmac": ...}: manage a secret id by accessor.
ACCESSOR_PREFIX = "accessor/"


def new_hmac_key() -> str:
    return secrets.token_hex(32)


def secret_id_hmac(key: str, secret_id: str) -> str:
    """HMAC-SHA256 under the role's own key, as Vault: custom secret ids may be guessable,
    and the key lives only in the role's (encrypted) record, not next to the hashes."""
    return hmac.new(key.encode(), secret_id.encode("utf-8", "surrogatepass"), "sha256").hexdigest()


def role_id_key(role_id: str) -> str:
    # Role ids identify rather than authenticate, but the storage file keeps keys in
    # clear, so the index holds a digest rather than the id.
    return ROLE_ID_PREFIX + hashlib.sha256(role_id.encode("utf-8", "surrogatepass")).hexdigest()


def secret_id_key(role: str, digest: str) -> str:
    return f"{SECRET_ID_PREFIX}{role}/{digest}"


def go_time(epoch: float) -> str:
    """A time as Go's JSON encodes it (RFC 3339, UTC); 0 is Go's zero time."""
    if epoch <= 0:
        return "0001-01-01T00:00:00Z"
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int((epoch % 1) * 1_000_000):06d}Z"


@dataclass(frozen=True, slots=True)
class Role:
    """An AppRole role; durations in seconds, 0 meaning the mount's value or "none"."""

    name: str
    role_id: str
    hmac_key: str = field(repr=False)
    bind_secret_id: bool = True
    secret_id_bound_cidrs: tuple[str, ...] = ()
    secret_id_num_uses: int = 0
    secret_id_ttl: int = 0
    token_policies: tuple[str, ...] = ()
    token_ttl: int = 0
    token_max_ttl: int = 0
    token_explicit_max_ttl: int = 0
    token_period: int = 0
    token_num_uses: int = 0
    token_bound_cidrs: tuple[str, ...] = ()
    token_no_default_policy: bool = False
    token_type: str = "default"
    # The deprecated spellings of token_policies and token_period, kept while in use.
    policies: tuple[str, ...] = ()
    period: int = 0

    def to_storage(self) -> dict[str, Any]:
        data = asdict(self)
        for name, value in data.items():
            if isinstance(value, tuple):
                data[name] = list(value)
        return data

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> Role:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)

    def has_constraint(self) -> bool:
        """Vault refuses a role that anyone knowing the role id could log in with."""
        return bool(self.bind_secret_id or self.secret_id_bound_cidrs or self.token_bound_cidrs)

    def read_data(self) -> dict[str, Any]:
        """The role as `GET role/<name>` shows it: Vault's keys, sorted as Go prints a map."""
        data: dict[str, Any] = {
            "bind_secret_id": self.bind_secret_id,
            "local_secret_ids": False,
        }
        if self.period:
            data["period"] = self.period
        if self.policies:
            data["policies"] = list(self.policies)
        data.update(
            {
                "secret_id_bound_cidrs": list(self.secret_id_bound_cidrs),
                "secret_id_num_uses": self.secret_id_num_uses,
                "secret_id_ttl": self.secret_id_ttl,
                "token_bound_cidrs": list(self.token_bound_cidrs),
                "token_explicit_max_ttl": self.token_explicit_max_ttl,
                "token_max_ttl": self.token_max_ttl,
                "token_no_default_policy": self.token_no_default_policy,
                "token_num_uses": self.token_num_uses,
                "token_period": self.token_period,
                "token_policies": list(self.token_policies),
                "token_ttl": self.token_ttl,
                "token_type": self.token_type,
            }
        )
        return data


@dataclass(frozen=True, slots=True)
class SecretId:
    """What is stored about one secret id: its limits and metadata, never its value."""

    accessor: str
    role: str
    num_uses: int
    ttl: int
    creation_time: float
    # 0: the secret id never expires.
    expiration_time: float
    last_updated_time: float
    metadata: Mapping[str, str] = field(default_factory=dict)
    cidr_list: tuple[str, ...] = ()
    token_bound_cidrs: tuple[str, ...] = ()

    def expired(self, now: float) -> bool:
        return 0 < self.expiration_time <= now

    def to_storage(self) -> dict[str, Any]:
        data = asdict(self)
        data["metadata"] = dict(self.metadata)
        data["cidr_list"] = list(self.cidr_list)
        data["token_bound_cidrs"] = list(self.token_bound_cidrs)
        return data

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> SecretId:
        values = dict(data)
        values["cidr_list"] = tuple(values.get("cidr_list", ()))
        values["token_bound_cidrs"] = tuple(values.get("token_bound_cidrs", ()))
        return cls(**values)

    def lookup_data(self) -> dict[str, Any]:
        """Vault's secret-id lookup `data`, keys sorted."""
        return {
            "cidr_list": list(self.cidr_list),
            "creation_time": go_time(self.creation_time),
            "expiration_time": go_time(self.expiration_time),
            "last_updated_time": go_time(self.last_updated_time),
            "metadata": dict(self.metadata),
            "secret_id_accessor": self.accessor,
            "secret_id_num_uses": self.num_uses,
            "secret_id_ttl": self.ttl,
            "token_bound_cidrs": list(self.token_bound_cidrs),
        }
