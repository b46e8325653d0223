"""The method's stored records: its config and its roles."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CONFIG_KEY", "ROLE_PREFIX", "Config", "Role"]

CONFIG_KEY = "config"
ROLE_PREFIX = "role/"


@dataclass(frozen=True, slots=True)
class Config:
    """auth/<path>/config; the client secret is stored (encrypted at rest), never read back."""

    oidc_discovery_url: str = ""
    oidc_discovery_ca_pem: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = field(default="", repr=False)
    oidc_response_mode: str = ""
    oidc_response_types: tuple[str, ...] = ()
    jwks_url: str = ""
    jwks_ca_pem: str = ""
    jwt_validation_pubkeys: tuple[str, ...] = ()
    jwt_supported_algs: tuple[str, ...] = ()
    bound_issuer: str = ""
    default_role: str = ""

    def to_storage(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> Config:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)

    def read_data(self) -> dict[str, Any]:
        data = self.to_storage()
        del data["oidc_client_secret"]
        data.update(namespace_in_state=True, provider_config={})
        return dict(sorted(data.items()))


@dataclass(frozen=True, slots=True)
class Role:
    """A role: which tokens it accepts (bound claims) and what token a login earns."""

    name: str
    role_type: str = "oidc"
    user_claim: str = ""
    groups_claim: str = ""
    bound_audiences: tuple[str, ...] = ()
    bound_subject: str = ""
    bound_claims: Mapping[str, Any] = field(default_factory=dict)
    bound_claims_type: str = "string"
    claim_mappings: Mapping[str, str] = field(default_factory=dict)
    allowed_redirect_uris: tuple[str, ...] = ()
    oidc_scopes: tuple[str, ...] = ()
    clock_skew_leeway: int = 60
    expiration_leeway: int = 150
    not_before_leeway: int = 150
    verbose_oidc_logging: bool = False
    max_age: int = 0
    token_policies: tuple[str, ...] = ()
    token_ttl: int = 0
    token_max_ttl: int = 0
    token_explicit_max_ttl: int = 0
    token_period: int = 0
    token_num_uses: int = 0
    token_bound_cidrs: tuple[str, ...] = ()
    token_no_default_policy: bool = False
    token_type: str = "default"

    def to_storage(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_storage(cls, data: Mapping[str, Any]) -> Role:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items()
        }
        return cls(**values)

    def read_data(self) -> dict[str, Any]:
        data = self.to_storage()
        del data["name"]
        data["policies"] = data["token_policies"]
        data["ttl"], data["max_ttl"] = self.token_ttl, self.token_max_ttl
        data["period"] = self.token_period
        data["num_uses"] = self.token_num_uses
        data["bound_cidrs"] = data["token_bound_cidrs"]
        data["user_claim_json_pointer"] = False
        return dict(sorted(data.items()))
