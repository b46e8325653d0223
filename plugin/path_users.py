"""The `users/` path: LIST the tenant's users, so an operator sees whom roles can bind."""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

from mount.sdk import (
    Field,
    FieldData,
    FieldType,
    InvalidRequestError,
    NotFoundError,
    Operation,
    Path,
    Request,
    Response,
)
from plugin.graph import GraphError

if TYPE_CHECKING:
    from plugin.backend import EntraBackend

__all__ = ["paths", "users_list"]

logger = logging.getLogger(__name__)

FIELDS = {
    "filter": Field(
        FieldType.STRING,
        "An OData $filter that Microsoft Graph applies to users, such as "
        "startswith(userPrincipalName,'svc-'); empty lists every user.",
    ),
}


def paths(b: EntraBackend) -> list[Path]:
    return [
        Path(
            "users/?",
            operations={Operation.LIST: partial(users_list, b)},
            fields=FIELDS,
            help_synopsis=USERS_HELP_SYN,
            help_description=USERS_HELP_DESC,
        )
    ]


async def users_list(b: EntraBackend, req: Request, d: FieldData) -> Response | None:
    expression = str(d.get("filter") or "").strip()
    config = await b.require_config(req.storage)
    graph = await b.graph(config)
    try:
        users = await graph.list_users(filter_expression=expression)
    except GraphError as exc:
        if expression and exc.graph_status == 400:
            raise InvalidRequestError(
                f"Microsoft Graph refused filter {expression!r} (400 {exc.code}); give an "
                "OData $filter on users such as startswith(userPrincipalName,'svc-')"
            ) from None
        raise
    logger.debug("users listed count=%d filtered=%s", len(users), bool(expression))
    if not users:
        raise NotFoundError()
    return Response(
        data={
            "keys": [u.user_principal_name for u in users],
            "key_info": {
                u.user_principal_name: {
                    "object_id": u.object_id,
                    "display_name": u.display_name,
                    "account_enabled": u.account_enabled,
                }
                for u in users
            },
        }
    )


USERS_HELP_SYN = "List the tenant's users (read-only), to pick whom a role binds."
USERS_HELP_DESC = """\
Lists every user of the tenant through Microsoft Graph, following every page, as keys
(user principal names) with key_info giving each one's object_id, display_name and
account_enabled. filter is passed to Graph as an OData $filter. Nothing is changed in
the tenant; writing roles/<name> still looks the user up and checks it.
"""
