"""What the Graph client returns: users, directory roles, passes, applications and secrets.

Each is read from Graph's JSON here, tolerating missing optional fields; a required one
missing is the caller's "unreadable answer" error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DIRECTORY_ROLE_TYPE",
    "GraphApplication",
    "GraphDirectoryRole",
    "GraphPasswordCredential",
    "GraphTemporaryAccessPass",
    "GraphUser",
]

# The @odata.type of a directory role among a user's memberships (groups and
# administrative units are the other kinds).
DIRECTORY_ROLE_TYPE = "#microsoft.graph.directoryRole"


@dataclass(frozen=True, slots=True)
class GraphUser:
    object_id: str
    user_principal_name: str
    display_name: str
    account_enabled: bool | None

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> GraphUser:
        """A user object whose `id` the caller checked is a string."""
        enabled = item.get("accountEnabled")
        return cls(
            object_id=item["id"],
            user_principal_name=str(item.get("userPrincipalName") or ""),
            display_name=str(item.get("displayName") or ""),
            account_enabled=enabled if isinstance(enabled, bool) else None,
        )


@dataclass(frozen=True, slots=True)
class GraphDirectoryRole:
    """A directory role the user is a member of, directly or through a group.

    `role_template_id` and `display_name` are "" when Graph withheld them: an application
    that may read users but not directory roles gets only the object's id and type
    ("limited information", https://learn.microsoft.com/graph/permissions-overview).
    """

    object_id: str
    role_template_id: str
    display_name: str

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> GraphDirectoryRole:
        return cls(
            object_id=str(item.get("id") or ""),
            role_template_id=str(item.get("roleTemplateId") or "").lower(),
            display_name=str(item.get("displayName") or ""),
        )


@dataclass(frozen=True, slots=True)
class GraphTemporaryAccessPass:
    """A Temporary Access Pass Graph created; `temporary_access_pass` is the pass itself."""

    id: str
    temporary_access_pass: str = field(repr=False)
    start_date_time: str
    lifetime_in_minutes: int
    is_usable_once: bool


@dataclass(frozen=True, slots=True)
class GraphPasswordCredential:
    """A client secret Graph added to an application; `secret_text` is the secret."""

    key_id: str
    secret_text: str = field(repr=False)
    end_date_time: str


@dataclass(frozen=True, slots=True)
class GraphApplication:
    """An app registration: object id, application (client) id, its secrets' key ids."""

    object_id: str
    app_id: str
    display_name: str
    # (keyId, displayName) of each client secret, keyId in lower case.
    passwords: tuple[tuple[str, str], ...]
    # keyId → hint (the first characters of the secret, as Graph shows them).
    password_hints: Mapping[str, str] = field(default_factory=dict)

    @property
    def password_key_ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.passwords)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> GraphApplication:
        """An application whose `id` and `appId` the caller checked are strings."""
        credentials = [
            p
            for p in body.get("passwordCredentials") or []
            if isinstance(p, dict) and isinstance(p.get("keyId"), str)
        ]
        return cls(
            object_id=body["id"],
            app_id=body["appId"],
            display_name=str(body.get("displayName") or ""),
            passwords=tuple(
                (str(p["keyId"]).lower(), str(p.get("displayName") or "")) for p in credentials
            ),
            password_hints={str(p["keyId"]).lower(): str(p.get("hint") or "") for p in credentials},
        )
