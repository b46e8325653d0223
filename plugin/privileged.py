"""Privileged Entra directory roles, and the check that keeps their holders out of roles.

A role whose user holds one of these directory roles would hand that user's password to
whoever may read the role's creds: a Global Administrator's, say. Such a role is refused
unless it says `allow_privileged_user=true`. The check reads the user's memberships
through Graph when the role is written and again before each password is issued, and it
fails closed: when Graph will not say which roles the user holds, the answer is no.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from mount.sdk import InvalidRequestError
from plugin.graph import ACCESS_DENIED, GraphClient, GraphDirectoryRole, GraphError
from plugin.models import Role

__all__ = [
    "MEMBERSHIP_PERMISSION",
    "PRIVILEGED_ROLES",
    "ROLE_NAMES_PERMISSION",
    "check_at_issue",
    "refuse_privileged_user",
    "privileged_role_names",
]

logger = logging.getLogger(__name__)

# The application permissions the check needs: the first reads a user's memberships,
# the second lets Graph say which directory roles they are.
MEMBERSHIP_PERMISSION = "User.Read.All"
ROLE_NAMES_PERMISSION = "RoleManagement.Read.Directory"

# Built-in role template ids (the same GUID in every tenant) and their names. These are
# the roles Microsoft labels PRIVILEGED in "Microsoft Entra built-in roles"
# (learn.microsoft.com/entra/identity/role-based-access-control/permissions-reference),
# plus Exchange and SharePoint Administrator: not labelled, but they reach every
# mailbox and every site.
PRIVILEGED_ROLES: Mapping[str, str] = MappingProxyType(
    {
        "62e90394-69f5-4237-9190-012177145e10": "Global Administrator",
        "e8611ab8-c189-46e8-94e1-60213ab1f814": "Privileged Role Administrator",
        "7be44c8a-adaf-4e2a-84d6-ab2649e08a13": "Privileged Authentication Administrator",
        "fe930be7-5e62-47db-91af-98c3a49a38b1": "User Administrator",
        "c4e39bd9-1100-46d3-8c65-fb160da0071f": "Authentication Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8": "Helpdesk Administrator",
        "966707d0-3269-4727-9be2-8c3a10f19b9d": "Password Administrator",
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
        "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
        "cf1c38e5-3621-4004-a7cb-879624dced7c": "Application Developer",
        "194ae4cb-b126-40b2-bd5b-6091b380977d": "Security Administrator",
        "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f": "Security Operator",
        "5d6b6bb7-de71-4623-b4af-96380a352509": "Security Reader",
        "f2ef992c-3afb-46b9-b7cf-a126ee74c451": "Global Reader",
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9": "Conditional Access Administrator",
        "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2": "Hybrid Identity Administrator",
        "be2f45a1-457d-42af-a067-6ec1fa63bc45": "External Identity Provider Administrator",
        "8329153b-31d0-4727-b945-745eb3bc5f31": "Domain Name Administrator",
        "25a516ed-2fa0-40ea-a2d0-12923a21473a": "Authentication Extensibility Administrator",
        "aaf43236-0c0d-4d5f-883a-6955382ac081": "B2C IEF Keyset Administrator",
        "9360feb5-f418-4baa-8175-e2a00bac4301": "Directory Writers",
        "7698a772-787b-4ac8-901f-60d6b08affd2": "Cloud Device Administrator",
        "3a2c62db-5318-420d-8d74-23affee5d9d5": "Intune Administrator",
        "59d46f88-662b-457b-bceb-5c3809e5908f": "Lifecycle Workflows Administrator",
        "ecb2c6bf-0ab6-418e-bd87-7986f8d63bbe": "Attribute Provisioning Administrator",
        "422218e4-db15-4ef9-bbe0-8afb41546d79": "Attribute Provisioning Reader",
        "db506228-d27e-4b7d-95e5-295956d6615f": "Agent ID Administrator",
        "4ba39ca4-527c-499a-b93d-d9b492c50246": "Partner Tier1 Support",
        "e00e864a-17c5-4a4b-9c06-f5b95a8d5bd8": "Partner Tier2 Support",
        "29232cdf-9323-42fd-ade2-1d097af3e4de": "Exchange Administrator",
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c": "SharePoint Administrator",
    }
)


def privileged_role_names(roles: Iterable[GraphDirectoryRole]) -> list[str]:
    """The names of the privileged roles among `roles`, each once, in the order given."""
    names = (
        PRIVILEGED_ROLES[r.role_template_id]
        for r in roles
        if r.role_template_id in PRIVILEGED_ROLES
    )
    return list(dict.fromkeys(names))


def _listed(names: list[str]) -> str:
    if len(names) == 1:
        return f"role {names[0]}"
    return f"roles {', '.join(names[:-1])} and {names[-1]}"


async def check_at_issue(graph: GraphClient, role: Role, *, credential: str) -> None:
    """Before each credential: a user made privileged after the role was written must not
    get one. Costs one Graph read per issue (under the role's issue limit); a role that
    allows privileged users skips it."""
    if role.allow_privileged_user:
        return
    await refuse_privileged_user(
        graph,
        object_id=role.object_id,
        upn=role.user_principal_name,
        role=role.name,
        issued=credential,
    )


async def refuse_privileged_user(
    graph: GraphClient, *, object_id: str, upn: str, role: str, issued: str = ""
) -> None:
    """Raise InvalidRequestError (400) unless Graph shows the user holds no privileged role.

    Refused too: a membership read Graph denies (403), and directory roles Graph lists
    without naming them (the application may read users but not directory roles).
    Other Graph failures propagate as they are; in every case nothing was changed.
    """
    at_issue = bool(issued)
    outcome = (
        f'no {issued} was issued for role "{role}"'
        if issued
        else (f'role "{role}" was not written')
    )
    override = (
        "or set allow_privileged_user=true on the role if a privileged user is really intended"
    )
    try:
        held = await graph.list_directory_roles(object_id, subject=upn)
    except GraphError as exc:
        if exc.code != ACCESS_DENIED:
            raise
        raise InvalidRequestError(
            f"{exc.message}; without them the broker cannot tell whether the user holds a "
            f"privileged directory role, so {outcome}: grant them, {override}"
        ) from None
    privileged = privileged_role_names(held)
    if privileged:
        logger.warning(
            "privileged user refused role=%s object_id=%s upn=%s roles=%s at_issue=%s",
            role,
            object_id,
            upn,
            ",".join(privileged),
            at_issue,
        )
        now = "now holds" if at_issue else "holds"
        raise InvalidRequestError(
            f'Entra user "{upn}" {now} the privileged directory {_listed(privileged)}, so '
            f"{outcome}: the broker would hand that user's password to whoever may read "
            "the role's creds. Set allow_privileged_user=true on the role if this is "
            "really intended"
        )
    unnamed = [r for r in held if not r.role_template_id]
    if unnamed:
        count = len(unnamed)
        what = "a directory role" if count == 1 else f"{count} directory roles"
        raise InvalidRequestError(
            f'Entra user "{upn}" is a member of {what} that Microsoft Graph did not name '
            "(the application may not read directory roles), so the broker cannot tell "
            f"whether the user is privileged and {outcome}: grant the application the "
            f"{ROLE_NAMES_PERMISSION} application permission with admin consent, {override}"
        )
