"""Microsoft Graph over one shared httpx.AsyncClient: users, password resets, Temporary
Access Passes, application client secrets, errors."""

from __future__ import annotations

import asyncio
import email.utils
import enum
import logging
import random
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import httpx

from mount.sdk import MetricsSink, NullSink, UpstreamError
from plugin import metrics as engine_metrics
from plugin.client_certificate import ca_bundle_pem
from plugin.graph_transport import ConnectionPerCallTransport

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_RETRY_AFTER",
    "DIRECTORY_ROLE_TYPE",
    "GraphBusyError",
    "GraphDirectoryRole",
    "GraphClient",
    "GraphApplication",
    "GraphError",
    "GraphPasswordCredential",
    "GraphTemporaryAccessPass",
    "GraphUser",
    "TokenSource",
    "tls_context",
]

logger = logging.getLogger(__name__)

DEFAULT_DEADLINE = 30.0  # seconds for one operation, retries included
DEFAULT_TIMEOUT = 10.0  # seconds for one HTTP exchange
DEFAULT_MAX_CONCURRENT = 32  # Graph calls in flight at once, for the whole engine
DEFAULT_QUEUE_TIMEOUT = 10.0  # seconds a call may wait for a free slot before a 503
# The longest Retry-After honoured: a password that should be dead waits no longer than
# this for Graph to take calls again (a longer ask costs one more throttled call).
DEFAULT_MAX_RETRY_AFTER = 60.0

# Graph error codes we act on (https://learn.microsoft.com/graph/errors); codes are
# stable, messages are not, so nothing here ever looks at the message text.
ACCESS_DENIED = "Authorization_RequestDenied"
NOT_FOUND = "Request_ResourceNotFound"
BAD_REQUEST = "Request_BadRequest"

# The @odata.type of a directory role among a user's memberships (groups and
# administrative units are the other kinds).
DIRECTORY_ROLE_TYPE = "#microsoft.graph.directoryRole"
DEFAULT_PAGE_SIZE = 999  # Graph's largest page of memberships
MAX_PAGES = 100  # a bound on @odata.nextLink chains: 99,900 memberships at 999 a page

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_BACKOFF_CAP = 8.0


def tls_context(ca_cert: str = "") -> ssl.SSLContext:
    """An SSLContext trusting only the PEM bundle `ca_cert`, or the system store when empty.

    Raises ssl.SSLError (or ValueError) when `ca_cert` holds no usable certificate.
    """
    if ca_cert.strip():
        return ssl.create_default_context(cadata=ca_bundle_pem(ca_cert))
    return ssl.create_default_context()


class TokenSource(Protocol):
    """Where the client gets its bearer token (plugin.token.TokenProvider in production)."""

    async def token(self) -> str: ...

    async def invalidate(self) -> None: ...


@dataclass(frozen=True, slots=True)
class GraphUser:
    object_id: str
    user_principal_name: str
    display_name: str
    account_enabled: bool | None


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


class _Op(enum.Enum):
    """What a request was for; picks the sentence for a given Graph error code."""

    READ_USER = "reading"
    SET_PASSWORD = "resetting the password of"
    READ_ROLES = "reading the directory roles of"
    CREATE_TAP = "creating a Temporary Access Pass for"
    DELETE_TAP = "deleting a Temporary Access Pass of"
    LIST_TAPS = "listing the Temporary Access Passes of"
    LIST_USERS = "listing"
    READ_APP = "reading application"
    ADD_PASSWORD = "adding a client secret to application"
    REMOVE_PASSWORD = "removing a client secret from application"

    def describe(self, subject: str) -> str:
        if self is _Op.LIST_USERS:
            return "listing users"
        if self in (_Op.READ_APP, _Op.ADD_PASSWORD, _Op.REMOVE_PASSWORD):
            return f'{self.value} "{subject}"'
        return f'{self.value} user "{subject}"'


_TAP_OPS = frozenset({_Op.CREATE_TAP, _Op.DELETE_TAP, _Op.LIST_TAPS})
_APP_OPS = frozenset({_Op.READ_APP, _Op.ADD_PASSWORD, _Op.REMOVE_PASSWORD})


class GraphError(UpstreamError):
    """Graph refused or failed a request.

    `graph_status` is Graph's HTTP status (None when no answer came; the attribute
    `status` stays the 502 the mount answers with), `code` Graph's error code, and
    `request_id` the id Microsoft support asks for.
    """

    def __init__(
        self,
        message: str,
        *,
        graph_status: int | None = None,
        code: str = "",
        request_id: str = "",
        retryable: bool = False,
        may_have_applied: bool = False,
        retry_after: float | None = None,
    ) -> None:
        if request_id:
            message = f"{message} (request-id {request_id})"
        super().__init__(
            message,
            retryable=retryable,
            may_have_applied=may_have_applied,
            retry_after=retry_after,
        )
        self.graph_status = graph_status
        self.code = code
        self.request_id = request_id


def _user_path(user: str) -> str:
    # A key starting with `$` is read by Graph as a system query option unless it is
    # written in the key form /users('$x'); `#` (guest UPNs: #EXT#) must be escaped.
    if user.startswith("$"):
        return "/users('" + quote(user.replace("'", "''"), safe="@$") + "')"
    return "/users/" + quote(user, safe="@")


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _error_fields(response: httpx.Response) -> tuple[str, str]:
    """Graph's error code and request-id from an error answer; "" for what is missing."""
    code = ""
    request_id = response.headers.get("request-id", "")
    try:
        body: Any = response.json()
    except ValueError:
        return code, request_id
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        if isinstance(error.get("code"), str):
            code = error["code"]
        inner = error.get("innerError") or error.get("innererror")
        if not request_id and isinstance(inner, dict):
            request_id = str(inner.get("request-id") or "")
    return code, request_id


def _unreadable(response: httpx.Response, what: str, why: str) -> GraphError:
    return GraphError(
        f"Microsoft Graph sent an unreadable answer when {what} "
        f"(status {response.status_code}, {why})",
        graph_status=response.status_code,
        request_id=response.headers.get("request-id", ""),
        retryable=True,
    )


def _json_object(response: httpx.Response) -> dict[str, Any]:
    """The body as a JSON object; {} when it is anything else (callers then refuse it)."""
    try:
        body: Any = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class _NoCookies(CookieJar):
    """Keeps no cookies: Graph needs none, and each call stays independent of the last.

    httpx offers every response to the client's jar; the standard jar parsed each one's
    headers to find none, several percent of the broker's CPU per credential.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


class GraphBusyError(GraphError):
    """Too many Graph calls already in flight: answered 503, never sent to Graph."""

    status = 503

    def __init__(self, message: str, *, may_have_applied: bool = False) -> None:
        super().__init__(message, retryable=True, may_have_applied=may_have_applied)


class GraphClient:
    """The Graph calls the engine makes, with retries inside one deadline per operation.

    429 and 503 wait for Retry-After (at most `max_retry_after`); other 5xx, timeouts and
    dropped connections back off with jitter; a 401 refreshes the token once. Errors are
    GraphError sentences chosen by Graph's error code; request bodies and tokens never
    reach errors or logs.
    """

    def __init__(
        self,
        graph_endpoint: str,
        tokens: TokenSource,
        *,
        verify: ssl.SSLContext | bool = True,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
        backoff: float = 0.25,
        transport: httpx.AsyncBaseTransport | None = None,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        queue_timeout: float = DEFAULT_QUEUE_TIMEOUT,
        max_retry_after: float = DEFAULT_MAX_RETRY_AFTER,
        metrics: MetricsSink | None = None,
    ) -> None:
        self.base_url = f"{graph_endpoint.rstrip('/')}/v1.0"
        self.metrics: MetricsSink = metrics or NullSink()
        self.metrics.declare(engine_metrics.METRICS)  # once per sink; the backend did already
        self.deadline = deadline
        # Objects per page of a membership list; Graph may send fewer, never more.
        self.page_size = DEFAULT_PAGE_SIZE
        self.backoff = backoff
        # Throttling discipline: never more than `max_concurrent` calls in flight, one
        # Retry-After honoured by every caller, and a bounded wait for a free slot, so an
        # Entra outage is never amplified into an unbounded backlog.
        self.max_concurrent = max_concurrent
        self.queue_timeout = queue_timeout
        self.max_retry_after = max_retry_after
        self._slots = asyncio.Semaphore(max_concurrent)
        self._not_before = 0.0
        self._tokens = tokens
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            verify=verify,
            timeout=httpx.Timeout(timeout),
            headers={"Accept": "application/json"},
            # Proxies and CA bundles come from the config, never from the environment.
            trust_env=False,
            transport=transport or ConnectionPerCallTransport(verify=verify),
            cookies=_NoCookies(),
        )
        # The client's default headers (Accept, Accept-Encoding, User-Agent...) for
        # requests built by _send.
        self._headers = dict(self._client.headers)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_user(self, user: str, *, deadline: float | None = None) -> GraphUser:
        """Look a user up by object id or user principal name."""
        response = await self._send(
            "GET",
            _user_path(user),
            params={"$select": "id,userPrincipalName,displayName,accountEnabled"},
            op=_Op.READ_USER,
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
        enabled = body.get("accountEnabled")
        return GraphUser(
            object_id=body["id"],
            user_principal_name=body["userPrincipalName"],
            display_name=str(body.get("displayName") or ""),
            account_enabled=enabled if isinstance(enabled, bool) else None,
        )

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
            op=_Op.SET_PASSWORD,
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
            op=_Op.CREATE_TAP,
            subject=subject or object_id,
            deadline=deadline,
        )
        body = _json_object(response)
        text, tap_id = body.get("temporaryAccessPass"), body.get("id")
        if not isinstance(text, str) or not text or not isinstance(tap_id, str):
            raise _unreadable(
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
            op=_Op.LIST_TAPS,
            subject=subject or object_id,
            deadline=deadline,
        )
        value = _json_object(response).get("value")
        if not isinstance(value, list):
            raise _unreadable(
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
            op=_Op.DELETE_TAP,
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
            "GET", path, op=_Op.READ_APP, subject=object_id, deadline=deadline
        )
        body = _json_object(response)
        if not isinstance(body.get("id"), str) or not isinstance(body.get("appId"), str):
            raise _unreadable(response, f'reading application "{object_id}"', "no id or appId")
        keys = tuple(
            (str(p["keyId"]).lower(), str(p.get("displayName") or ""))
            for p in body.get("passwordCredentials") or []
            if isinstance(p, dict) and isinstance(p.get("keyId"), str)
        )
        hints = {
            str(p["keyId"]).lower(): str(p.get("hint") or "")
            for p in body.get("passwordCredentials") or []
            if isinstance(p, dict) and isinstance(p.get("keyId"), str)
        }
        return GraphApplication(
            object_id=body["id"],
            app_id=body["appId"],
            display_name=str(body.get("displayName") or ""),
            passwords=keys,
            password_hints=hints,
        )

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
            op=_Op.ADD_PASSWORD,
            subject=application_object_id,
            deadline=deadline,
        )
        body = _json_object(response)
        text, key_id = body.get("secretText"), body.get("keyId")
        if not isinstance(text, str) or not text or not isinstance(key_id, str):
            raise _unreadable(
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
            op=_Op.REMOVE_PASSWORD,
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
                "GET", path, params=params, op=_Op.LIST_USERS, subject="", deadline=end
            )
            body = _json_object(response)
            value = body.get("value")
            if not isinstance(value, list):
                raise _unreadable(response, "listing users", "no value")
            for item in value:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    enabled = item.get("accountEnabled")
                    users.append(
                        GraphUser(
                            object_id=item["id"],
                            user_principal_name=str(item.get("userPrincipalName") or ""),
                            display_name=str(item.get("displayName") or ""),
                            account_enabled=enabled if isinstance(enabled, bool) else None,
                        )
                    )
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
                "GET", path, params=params, op=_Op.READ_ROLES, subject=who, deadline=end
            )
            try:
                body: Any = response.json()
            except ValueError:
                body = None
            value = body.get("value") if isinstance(body, dict) else None
            if not isinstance(body, dict) or not isinstance(value, list):
                raise _unreadable(response, f'reading the memberships of user "{who}"', "no value")
            for item in value:
                if isinstance(item, dict) and item.get("@odata.type") == DIRECTORY_ROLE_TYPE:
                    roles.append(
                        GraphDirectoryRole(
                            object_id=str(item.get("id") or ""),
                            role_template_id=str(item.get("roleTemplateId") or "").lower(),
                            display_name=str(item.get("displayName") or ""),
                        )
                    )
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
            raise _unreadable(response, what, f"an @odata.nextLink outside {self.base_url}")
        rest = found.path[len(base.path) :]
        return f"{rest}?{found.query}" if found.query else rest

    def deadline_from_now(self) -> float:
        """An absolute deadline for an operation made of several calls."""
        return asyncio.get_running_loop().time() + self.deadline

    # -- the retry loop --------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        op: _Op,
        subject: str,
        deadline: float | None,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Response:
        loop = asyncio.get_running_loop()
        end = deadline if deadline is not None else loop.time() + self.deadline
        mutating = method != "GET"
        maybe_applied = False  # sticky: once a write may have landed, it stays "maybe"
        refreshed = False
        attempt = 0
        what = op.describe(subject)
        # What the last attempt failed with: if a pause before the next one overruns the
        # deadline (a busy loop wakes late), that answer says more than "did not complete".
        last_error: GraphError | None = None
        while True:
            attempt += 1
            remaining = end - loop.time()
            if remaining <= 0:
                raise last_error or self._timed_out(what, maybe_applied)
            try:
                # asyncio.timeout, not wait_for: no task is made per call.
                async with asyncio.timeout(remaining):
                    token = await self._tokens.token()
            except TimeoutError:
                raise self._timed_out(what, maybe_applied) from None
            except UpstreamError as exc:
                if not maybe_applied:
                    raise
                raise GraphError(
                    exc.message,
                    retryable=exc.retryable,
                    may_have_applied=True,
                    retry_after=exc.retry_after,
                ) from None
            await self._wait_for_slot(what, end, maybe_applied)
            remaining = end - loop.time()
            started = loop.time()
            try:
                try:
                    timeout = httpx.Timeout(max(0.001, min(self._timeout, remaining)))
                    # Built here and sent as is: the client's build_request merges its
                    # defaults (URL, headers, cookies, params) anew for every call, 15%
                    # of a call's CPU; the defaults are merged once in __init__.
                    request = httpx.Request(
                        method,
                        self.base_url + path,
                        params=params,
                        json=json,
                        headers={**self._headers, "Authorization": f"Bearer {token}"},
                        extensions={"timeout": timeout.as_dict()},
                    )
                    response = await self._client.send(request)
                finally:
                    self._slots.release()
            except httpx.TransportError as exc:
                self._count_attempt(method, "error", loop.time() - started)
                # A connect failure means nothing was sent; anything later may have
                # reached Graph and been applied even though no answer came back.
                sent = not isinstance(
                    exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
                )
                maybe_applied = maybe_applied or (mutating and sent)
                error = last_error = self._transport_error(exc, what, maybe_applied)
                if not error.retryable or not await self._pause(
                    None, attempt, end, method, path, None, ""
                ):
                    raise error from None
                continue
            status = response.status_code
            self._count_attempt(method, str(status), loop.time() - started)
            if response.is_success:
                logger.debug(
                    "graph call method=%s path=%s status=%d request_id=%s",
                    method,
                    path,
                    status,
                    response.headers.get("request-id", ""),
                )
                return response
            code, request_id = _error_fields(response)
            if status == 401 and not refreshed:
                # A token Graph no longer accepts (revoked, rotated signing keys): one
                # fresh token is worth a try; a second 401 is a real refusal.
                refreshed = True
                logger.debug("graph 401, refreshing token request_id=%s", request_id)
                await self._tokens.invalidate()
                continue
            if mutating and status >= 500:
                maybe_applied = True
            wait = self._asked_wait(response) if status in (429, 503) else None
            error = self._status_error(status, code, request_id, op, subject, what, maybe_applied)
            error.retry_after = wait
            last_error = error
            if status in _RETRY_STATUSES:
                if wait is not None:
                    # Every caller waits it out, not just this one: Graph counts
                    # throttled requests against us too.
                    self._not_before = max(self._not_before, loop.time() + wait)
                if await self._pause(wait, attempt, end, method, path, status, request_id):
                    continue
            raise error

    def _asked_wait(self, response: httpx.Response) -> float | None:
        """Graph's Retry-After in seconds, at most `max_retry_after`; None when absent."""
        wait = _retry_after(response)
        return None if wait is None else min(wait, self.max_retry_after)

    async def _wait_for_slot(self, what: str, end: float, maybe_applied: bool) -> None:
        """Take a call slot after any shared Retry-After, within the queue and call limits."""
        loop = asyncio.get_running_loop()
        hold = self._not_before - loop.time()
        if hold > 0:
            if loop.time() + hold >= end:
                raise GraphError(
                    f"Microsoft Graph asked us to wait {hold:.0f}s (Retry-After) before "
                    f"{what}, beyond this request's {self.deadline:g}s limit; try again later",
                    retryable=True,
                    may_have_applied=maybe_applied,
                    retry_after=hold,
                )
            self._count_throttle_wait(hold)
            await asyncio.sleep(hold)
        limit = min(self.queue_timeout, end - loop.time())
        try:
            if self._slots.locked():
                async with asyncio.timeout(max(0.0, limit)):
                    await self._slots.acquire()
            else:
                await self._slots.acquire()  # a free slot: taken without waiting
        except TimeoutError:
            raise GraphBusyError(
                f"the broker is busy: {self.max_concurrent} Microsoft Graph calls were "
                f"already in flight and none finished within {limit:.0f}s, so {what} was "
                "not started; try again later",
                may_have_applied=maybe_applied,
            ) from None

    async def _pause(
        self,
        retry_after: float | None,
        attempt: int,
        end: float,
        method: str,
        path: str,
        status: int | None,
        request_id: str,
    ) -> bool:
        """Sleep before the next attempt; False when the deadline does not allow one."""
        loop = asyncio.get_running_loop()
        if retry_after is None:
            ceiling = min(_BACKOFF_CAP, self.backoff * 2 ** (attempt - 1))
            delay = ceiling * random.uniform(0.5, 1.0)
        else:
            delay = retry_after
        if loop.time() + delay >= end:
            return False
        logger.warning(
            "graph retry method=%s path=%s status=%s request_id=%s attempt=%d delay=%.2fs",
            method,
            path,
            status if status is not None else "none",
            request_id,
            attempt,
            delay,
        )
        if retry_after is not None:
            self._count_throttle_wait(delay)
        await asyncio.sleep(delay)
        return True

    def _count_attempt(self, method: str, status: str, seconds: float) -> None:
        self.metrics.incr(engine_metrics.GRAPH_REQUESTS, {"method": method, "status": status})
        self.metrics.observe(engine_metrics.GRAPH_REQUEST_DURATION, {"method": method}, seconds)

    def _count_throttle_wait(self, seconds: float) -> None:
        self.metrics.incr(engine_metrics.GRAPH_THROTTLE_WAITS)
        self.metrics.incr(engine_metrics.GRAPH_THROTTLE_WAIT_SECONDS, value=seconds)

    # -- error sentences ---------------------------------------------------------------

    def _timed_out(self, what: str, maybe_applied: bool) -> GraphError:
        return GraphError(
            f"Microsoft Graph did not complete {what} within {self.deadline:g}s; try again later",
            retryable=True,
            may_have_applied=maybe_applied,
        )

    def _transport_error(self, exc: httpx.TransportError, what: str, maybe: bool) -> GraphError:
        host = urlsplit(self.base_url).netloc
        logger.debug("graph transport error host=%s error=%s", host, type(exc).__name__)
        if _tls_failure(exc):
            return GraphError(
                f"the TLS certificate of {host} is not trusted; set ca_cert to the CA bundle "
                "that signed it (PEM)",
                may_have_applied=False,
            )
        if isinstance(exc, httpx.TimeoutException):
            return GraphError(
                f"Microsoft Graph at {host} did not answer {what} in time",
                retryable=True,
                may_have_applied=maybe,
            )
        return GraphError(
            f"the connection to Microsoft Graph at {host} failed while {what} "
            f"({type(exc).__name__})",
            retryable=True,
            may_have_applied=maybe,
        )

    def _status_error(
        self,
        status: int,
        code: str,
        request_id: str,
        op: _Op,
        subject: str,
        what: str,
        maybe_applied: bool,
    ) -> GraphError:
        shown = f"{status} {code}".strip()
        if status == 403 and op in _TAP_OPS:
            message = (
                f"Microsoft Graph denied {what} ({code or status}): the application needs the "
                "UserAuthenticationMethod.ReadWrite.All application permission with admin "
                "consent, and the Authentication Administrator directory role (Privileged "
                "Authentication Administrator if the user is an administrator)"
            )
        elif status == 403 and op in _APP_OPS:
            message = (
                f"Microsoft Graph denied {what} ({code or status}): the application needs the "
                "Application.ReadWrite.OwnedBy application permission with admin consent and "
                "must own that application (or Application.ReadWrite.All)"
            )
        elif status == 403 and op is _Op.LIST_USERS:
            message = (
                f"Microsoft Graph denied listing users ({code or status}): the application "
                "needs the User.Read.All (or User.ReadWrite.All) application permission"
            )
        elif op in _APP_OPS and (code == NOT_FOUND or status == 404):
            message = f'Entra application "{subject}" was not found ({code or "404"})'
        elif op is _Op.DELETE_TAP and status == 404:
            message = f'Entra found no such Temporary Access Pass of user "{subject}" (404)'
        elif code == ACCESS_DENIED and op is _Op.SET_PASSWORD:
            message = (
                f'Microsoft Graph denied resetting the password of user "{subject}" '
                f"({ACCESS_DENIED}): the application needs the "
                "User-PasswordProfile.ReadWrite.All or User.ReadWrite.All application "
                "permission with admin consent, and the User Administrator directory role "
                "(Privileged Authentication Administrator if the user is an administrator)"
            )
        elif code == ACCESS_DENIED and op is _Op.READ_ROLES:
            message = (
                f'Microsoft Graph denied reading the directory roles of user "{subject}" '
                f"({ACCESS_DENIED}): the application needs the User.Read.All application "
                "permission with admin consent to read memberships, and "
                "RoleManagement.Read.Directory to see which roles they are"
            )
        elif code == ACCESS_DENIED:
            message = (
                f'Microsoft Graph denied reading user "{subject}" ({ACCESS_DENIED}): the '
                "application needs the User.Read.All (or User.ReadWrite.All) application "
                "permission with admin consent"
            )
        elif code == NOT_FOUND or (status == 404 and not code):
            message = f'Entra user "{subject}" was not found ({code or "404"})'
        elif code == BAD_REQUEST and op is _Op.SET_PASSWORD:
            message = (
                f'Entra refused the generated password for user "{subject}" ({BAD_REQUEST}): '
                "it does not meet the tenant's password policy"
            )
        elif status == 401:
            message = (
                f"Microsoft Graph rejected the application's access token ({shown}); check "
                "that graph_endpoint belongs to the same cloud as authority_host"
            )
        elif status == 429:
            message = (
                f"Microsoft Graph throttled {what} (429) beyond this request's "
                f"{self.deadline:g}s limit; try again later"
            )
        elif status >= 500:
            message = f"Microsoft Graph failed {what} ({shown})"
        else:
            message = f"Microsoft Graph refused {what} ({shown})"
        return GraphError(
            message,
            graph_status=status,
            code=code,
            request_id=request_id,
            retryable=status in _RETRY_STATUSES,
            may_have_applied=maybe_applied,
        )
