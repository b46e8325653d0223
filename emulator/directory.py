"""Entra directory roles: the built-in role templates the emulator knows, and role objects.

In Entra a directory role object (tenant-specific id) is created from a role template
(the same GUID in every tenant) when the role is first assigned; Graph lists it among a
member's `transitiveMemberOf` as `#microsoft.graph.directoryRole` with its
`roleTemplateId`. The catalog holds a selection of built-in templates; any other one can
be named by giving its template id and a display name together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BUILTIN_TEMPLATES",
    "DIRECTORY_ROLE_TYPE",
    "DirectoryRole",
    "DirectoryRoleError",
    "RoleTemplate",
    "find_template",
    "render_directory_role",
]

DIRECTORY_ROLE_TYPE = "#microsoft.graph.directoryRole"
_GUID = re.compile(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class DirectoryRoleError(ValueError):
    """A directory role cannot be found or assigned as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class RoleTemplate:
    id: str
    display_name: str


@dataclass(frozen=True, slots=True)
class DirectoryRole:
    """An activated directory role: its object id in this tenant and its template."""

    id: str
    role_template_id: str
    display_name: str


# Ids from "Microsoft Entra built-in roles" (learn.microsoft.com, permissions-reference).
BUILTIN_TEMPLATES: tuple[RoleTemplate, ...] = tuple(
    RoleTemplate(template_id, name)
    for template_id, name in (
        ("62e90394-69f5-4237-9190-012177145e10", "Global Administrator"),
        ("e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator"),
        ("7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator"),
        ("fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator"),
        ("c4e39bd9-1100-46d3-8c65-fb160da0071f", "Authentication Administrator"),
        ("729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator"),
        ("966707d0-3269-4727-9be2-8c3a10f19b9d", "Password Administrator"),
        ("9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "Application Administrator"),
        ("158c047a-c907-4556-b7ef-446551a6b5f7", "Cloud Application Administrator"),
        ("194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator"),
        ("f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader"),
        ("29232cdf-9323-42fd-ade2-1d097af3e4de", "Exchange Administrator"),
        ("f28a1f50-f6e7-4571-818b-6a12f2af6b6c", "SharePoint Administrator"),
        ("3a2c62db-5318-420d-8d74-23affee5d9d5", "Intune Administrator"),
        ("88d8e3e3-8f55-4a1e-953a-9b9898b8876b", "Directory Readers"),
        ("790c1fb9-7f7d-4f88-86a1-ef1f95c05c1b", "Message Center Reader"),
        ("4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader"),
        ("fdd7a751-b60b-444a-984c-02652fe8fa1c", "Groups Administrator"),
        ("4d6ac14f-3453-41d0-bef9-a3e0c569773a", "License Administrator"),
    )
)


def find_template(key: str, display_name: str | None = None) -> RoleTemplate:
    """A template by template id or display name (case-insensitive).

    A template id outside the catalog needs `display_name`; anything else unknown raises
    DirectoryRoleError.
    """
    wanted = key.strip().lower()
    for template in BUILTIN_TEMPLATES:
        if wanted in (template.id, template.display_name.lower()):
            return template
    if _GUID.fullmatch(wanted):
        if display_name and display_name.strip():
            return RoleTemplate(wanted, display_name.strip())
        raise DirectoryRoleError(
            f"role template {key!r} is not in the emulator's catalog: give displayName too"
        )
    names = ", ".join(t.display_name for t in BUILTIN_TEMPLATES)
    raise DirectoryRoleError(
        f"no directory role {key!r}: use a role template id (GUID) or one of {names}"
    )


def render_directory_role(role: DirectoryRole, *, named: bool) -> dict[str, Any]:
    """The role as Graph lists it among memberships.

    Unless `named` (the caller may read directory roles), Graph's "limited information":
    the type and id only, every other property null.
    """
    return {
        "@odata.type": DIRECTORY_ROLE_TYPE,
        "id": role.id,
        "deletedDateTime": None,
        "description": None,
        "displayName": role.display_name if named else None,
        "roleTemplateId": role.role_template_id if named else None,
    }
