"""The Graph endpoints the engine calls: users, password resets, Temporary Access Passes,
application client secrets and directory-role memberships."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from plugin.graph.errors import GraphError, GraphOp, unreadable
from plugin.graph.models import (
    DIRECTORY_ROLE_TYPE,
    GraphApplication,
    GraphDirectoryRole,
    GraphPasswordCredential,
    GraphTemporaryAccessPass,
    GraphUser,
)
from plugin.graph.transport import GraphTransport

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGES", "GraphClient"]

DEFAULT_PAGE_SIZE = 999  # Graph's largest page of memberships
MAX_PAGES = 100  # a bound on @odata.nextLink chains: 99,900 memberships at 999 a page


def _user_path(user: str) -> str:
    # A key starting with `$` is read by Graph as a system query option unless it is
    # written in the key form /users('$x'); `#` (guest UPNs: #EXT#) must be escaped.
    if user.startswith("$"):
        return "/users('" + quote(user.replace("'", "''"), safe="@$") + "')"
    return "/users/" + quote(user, safe="@")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; {} when it is anything else (callers then refuse it)."""
    try:
        body: Any = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class GraphClient(GraphTransport):
    """The Graph calls the engine makes, each one operation within one deadline (see
    GraphTransport for the retries); errors are GraphError sentences."""

    # Objects per page of a list; Graph may send fewer, never more.
    page_size = DEFAULT_PAGE_SIZE

    async def get_user(self, user: str, *, deadline: float | None = None) -> GraphUser:
        """Look a user up by object id or user principal name."""
        response = await self._send(
            "GET",
            _user_path(user),
            params={"$select": "id,userPrincipalName,displayName,accountEnabled"},
            op=GraphOp.READ_USER,
            subject=user,
            deadline=deadline,
        )
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("id"), str)
            or not isinstance(body.get("userPrincipalName"), str)
        ):
            raise GraphError(
                f'Microsoft Graph sent an unreadable answer when reading user "{user}" '
                f"(status {response.status_code}, no id or userPrincipalName)",
                graph_status=response.status_code,
                request_id=response.headers.get("request-id", ""),
                retryable=True,
            )
        return GraphUser.from_json(body)

    async def set_password(
        self,
        object_id: str,
        password: str,
        *,
        subject: str = "",
        deadline: float | None = None,
    ) -> None:
        """Reset a user's password, not forcing a change at next sign-in.

        `subject` names the user in errors (a UPN); `deadline` is an absolute
        `loop.time()` shared by several calls of one operation.
        """
        body = {"passwordProfile": {"password": password, "forceChangePasswordNextSignIn": False}}
        await self._send(
            "PATCH",
            _user_path(object_id),
            json=body,
            op=GraphOp.SET_PASSWORD,
            subject=subject or object_id,
            deadline=deadline,
        )

    async def create_temporary_access_pass(
        self,
        object_id: str,
        *,
        lifetime_in_minutes: int,
        is_usable_once: bool,
        subject: str = "",
        deadline: float | None = None,
    ) -> GraphTemporaryAccessPass:
        """Create a pass for a user (Entra replaces any earlier one of that user)."""
        response = await self._send(
            "POST",
            f"{_user_path(object_id)}/authentication/temporaryAccessPassMethods",
            json={"lifetimeInMinutes": lifetime_in_minutes, "isUsableOnce": is_usable_once},
            op=GraphOp.CREATE_TAP,
            subject=subject or object_id,
            deadline=deadline,
        )
        body = _json_object(response)
        text, tap_id = body.get("temporaryAccessPass"), body.get("id")
        if not isinstance(text, str) or not text or not isinstance(tap_id, str):
            raise unreadable(
                response,
                f'creating a Temporary Access Pass for user "{subject or object_id}"',
                "no id or temporaryAccessPass",
            )
        lifetime = body.get("lifetimeInMinutes")
        return GraphTemporaryAccessPass(
            id=tap_id,
            temporary_access_pass=text,
            start_date_time=str(body.get("startDateTime") or ""),
            lifetime_in_minutes=lifetime if isinstance(lifetime, int) else lifetime_in_minutes,
            is_usable_once=body.get("isUsableOnce") is True,
        )

    async def list_temporary_access_passes(
        self, object_id: str, *, subject: str = "", deadline: float | None = None
    ) -> list[str]:
        """The ids of the user's Temporary Access Passes (Entra keeps at most one)."""
        response = await self._send(
            "GET",
            f"{_user_path(object_id)}/authentication/temporaryAccessPassMethods",
            op=GraphOp.LIST_TAPS,
            subject=subject or object_id,
            deadline=deadline,
        )
        value = _json_object(response).get("value")
        if not isinstance(value, list):
            raise unreadable(
                response, f'listing the passes of user "{subject or object_id}"', "no value"
            )
        return [str(t["id"]) for t in value if isinstance(t, dict) and isinstance(t.get("id"), str)]

    async def delete_temporary_access_pass(
        self, object_id: str, tap_id: str, *, subject: str = "", deadline: float | None = None
    ) -> None:
        await self._send(
            "DELETE",
            f"{_user_path(object_id)}/authentication/temporaryAccessPassMethods/"
            + quote(tap_id, safe=""),
            op=GraphOp.DELETE_TAP,
            subject=subject or object_id,
            deadline=deadline,
        )

    async def get_application(
        self, object_id: str, *, deadline: float | None = None
    ) -> GraphApplication:
        """An application by object id, or by client id through /applications(appId='…')."""
        path = (
            f"/applications/{quote(object_id, safe='')}"
            if not object_id.startswith("appId=")
            else f"/applications({object_id[:6]}'{quote(object_id[6:], safe='')}')"
        )
        response = await self._send(
            "GET", path, op=GraphOp.READ_APP, subject=object_id, deadline=deadline
        )
        body = _json_object(response)
        if not isinstance(body.get("id"), str) or not isinstance(body.get("appId"), str):
            raise unreadable(response, f'reading application "{object_id}"', "no id or appId")
        return GraphApplication.from_json(body)

    async def add_password(
        self,
        application_object_id: str,
        *,
        display_name: str,
        end_date_time: datetime,
        deadline: float | None = None,
    ) -> GraphPasswordCredential:
        """addPassword: a new client secret on the application, ending at `end_date_time`."""
        end = end_date_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        response = await self._send(
            "POST",
            f"/applications/{quote(application_object_id, safe='')}/addPassword",
            json={"passwordCredential": {"displayName": display_name, "endDateTime": end}},
            op=GraphOp.ADD_PASSWORD,
            subject=application_object_id,
            deadline=deadline,
        )
        body = _json_object(response)
        text, key_id = body.get("secretText"), body.get("keyId")
        if not isinstance(text, str) or not text or not isinstance(key_id, str):
            raise unreadable(
                response,
                f'adding a client secret to application "{application_object_id}"',
                "no keyId or secretText",
            )
        return GraphPasswordCredential(
            key_id=key_id.lower(),
            secret_text=text,
            end_date_time=str(body.get("endDateTime") or end),
        )

    async def remove_password(
        self, application_object_id: str, key_id: str, *, deadline: float | None = None
    ) -> None:
        await self._send(
            "POST",
            f"/applications/{quote(application_object_id, safe='')}/removePassword",
            json={"keyId": key_id},
            op=GraphOp.REMOVE_PASSWORD,
            subject=application_object_id,
            deadline=deadline,
        )

    async def list_users(
        self, *, filter_expression: str = "", deadline: float | None = None
    ) -> list[GraphUser]:
        """Every user (all pages), optionally those matching an OData $filter."""
        end = deadline if deadline is not None else self.deadline_from_now()
        params: dict[str, str] | None = {
            "$select": "id,userPrincipalName,displayName,accountEnabled",
            "$top": str(self.page_size),
        }
        if filter_expression and params is not None:
            params["$filter"] = filter_expression
        path = "/users"
        users: list[GraphUser] = []
        for _ in range(MAX_PAGES):
            response = await self._send(
                "GET", path, params=params, op=GraphOp.LIST_USERS, subject="", deadline=end
            )
            body = _json_object(response)
            value = body.get("value")
            if not isinstance(value, list):
                raise unreadable(response, "listing users", "no value")
            for item in value:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    users.append(GraphUser.from_json(item))
            link = body.get("@odata.nextLink")
            if link is None:
                return users
            path, params = self._next_page(link, response, "listing users"), None
        raise GraphError(
            f"Microsoft Graph sent more than {MAX_PAGES} pages of users; the broker stopped "
            "following @odata.nextLink"
        )

    async def list_directory_roles(
        self, user: str, *, subject: str = "", deadline: float | None = None
    ) -> list[GraphDirectoryRole]:
        """The directory roles `user` is a member of, directly or through groups.

        Reads GET /users/{id}/transitiveMemberOf, keeps the directoryRole entries and
        follows every @odata.nextLink within one deadline. It does not use the OData cast
        /transitiveMemberOf/microsoft.graph.directoryRole: Graph serves a cast only as an
        advanced query (ConsistencyLevel: eventual), from an index that may not show a
        role assigned moments ago, and a security check cannot accept that lag.
        """
        end = deadline if deadline is not None else self.deadline_from_now()
        who = subject or user
        path = f"{_user_path(user)}/transitiveMemberOf"
        params: dict[str, str] | None = {"$top": str(self.page_size)}
        roles: list[GraphDirectoryRole] = []
        for _ in range(MAX_PAGES):
            response = await self._send(
                "GET", path, params=params, op=GraphOp.READ_ROLES, subject=who, deadline=end
            )
            try:
                body: Any = response.json()
            except ValueError:
                body = None
            value = body.get("value") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(value, list):
                raise unreadable(response, f'reading the memberships of user "{who}"', "no value")
            for item in value:
                if isinstance(item, dict) and item.get("@odata.type") == DIRECTORY_ROLE_TYPE:
                    roles.append(GraphDirectoryRole.from_json(item))
            link = body.get("@odata.nextLink")
            if link is None:
                return roles
            reading = f'reading the memberships of user "{who}"'
            path, params = self._next_page(link, response, reading), None
        raise GraphError(
            f'Microsoft Graph sent more than {MAX_PAGES} pages of memberships of user "{who}"; '
            "the broker stopped following @odata.nextLink"
        )

    def _next_page(self, link: Any, response: httpx.Response, what: str) -> str:
        """The path, under base_url, of an @odata.nextLink; anything else is refused.

        The bearer token goes with the next request, so a link to another host or
        outside /v1.0 is never followed.
        """
        base = urlsplit(self.base_url)
        found = urlsplit(link) if isinstance(link, str) else None
        if (
            found is None
            or (found.scheme, found.netloc.lower()) != (base.scheme, base.netloc.lower())
            or not found.path.startswith(base.path + "/")
        ):
            raise unreadable(response, what, f"an @odata.nextLink outside {self.base_url}")
        rest = found.path[len(base.path) :]
        return f"{rest}?{found.query}" if found.query else rest
