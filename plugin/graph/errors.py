"""Graph's failures as typed errors, each with the sentence an operator can act on.

Sentences are chosen by Graph's error code and by what the request was for (`GraphOp`);
codes are stable, messages are not, so nothing here ever looks at Graph's message text.
"""

from __future__ import annotations

import enum
import logging
import ssl
from typing import Any

import httpx

from mount.sdk import UpstreamError

__all__ = [
    "ACCESS_DENIED",
    "BAD_REQUEST",
    "NOT_FOUND",
    "RETRY_STATUSES",
    "GraphBusyError",
    "GraphError",
    "GraphOp",
    "error_fields",
    "status_error",
    "timed_out",
    "transport_error",
    "unreadable",
]

logger = logging.getLogger("plugin.graph")

# Graph error codes we act on (https://learn.microsoft.com/graph/errors).
ACCESS_DENIED = "Authorization_RequestDenied"
NOT_FOUND = "Request_ResourceNotFound"
BAD_REQUEST = "Request_BadRequest"

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class GraphOp(enum.Enum):
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
        if self is GraphOp.LIST_USERS:
            return "listing users"
        if self in _APP_OPS:
            return f'{self.value} "{subject}"'
        return f'{self.value} user "{subject}"'


_TAP_OPS = frozenset({GraphOp.CREATE_TAP, GraphOp.DELETE_TAP, GraphOp.LIST_TAPS})
_APP_OPS = frozenset({GraphOp.READ_APP, GraphOp.ADD_PASSWORD, GraphOp.REMOVE_PASSWORD})


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


class GraphBusyError(GraphError):
    """Too many Graph calls already in flight: answered 503, never sent to Graph."""

    status = 503

    def __init__(self, message: str, *, may_have_applied: bool = False) -> None:
        super().__init__(message, retryable=True, may_have_applied=may_have_applied)


def error_fields(response: httpx.Response) -> tuple[str, str]:
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


def unreadable(response: httpx.Response, what: str, why: str) -> GraphError:
    return GraphError(
        f"Microsoft Graph sent an unreadable answer when {what} "
        f"(status {response.status_code}, {why})",
        graph_status=response.status_code,
        request_id=response.headers.get("request-id", ""),
        retryable=True,
    )


def timed_out(what: str, deadline: float, maybe_applied: bool) -> GraphError:
    return GraphError(
        f"Microsoft Graph did not complete {what} within {deadline:g}s; try again later",
        retryable=True,
        may_have_applied=maybe_applied,
    )


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def transport_error(exc: httpx.TransportError, host: str, what: str, maybe: bool) -> GraphError:
    """No answer from Graph at `host`: an untrusted certificate, a timeout, a lost connection."""
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
        f"the connection to Microsoft Graph at {host} failed while {what} ({type(exc).__name__})",
        retryable=True,
        may_have_applied=maybe,
    )


def status_error(
    status: int,
    code: str,
    request_id: str,
    op: GraphOp,
    subject: str,
    deadline: float,
    maybe_applied: bool,
) -> GraphError:
    """The error for an answer with a failure status, its sentence chosen by code and op."""
    what = op.describe(subject)
    message = _refusal(status, code, op, subject, what) or _failure(
        status, code, op, subject, what, deadline
    )
    return GraphError(
        message,
        graph_status=status,
        code=code,
        request_id=request_id,
        retryable=status in RETRY_STATUSES,
        may_have_applied=maybe_applied,
    )


def _refusal(status: int, code: str, op: GraphOp, subject: str, what: str) -> str | None:
    """The sentence for a missing permission or object, if the answer is one."""
    if status == 403 and op in _TAP_OPS:
        return (
            f"Microsoft Graph denied {what} ({code or status}): the application needs the "
            "UserAuthenticationMethod.ReadWrite.All application permission with admin "
            "consent, and the Authentication Administrator directory role (Privileged "
            "Authentication Administrator if the user is an administrator)"
        )
    if status == 403 and op in _APP_OPS:
        return (
            f"Microsoft Graph denied {what} ({code or status}): the application needs the "
            "Application.ReadWrite.OwnedBy application permission with admin consent and "
            "must own that application (or Application.ReadWrite.All)"
        )
    if status == 403 and op is GraphOp.LIST_USERS:
        return (
            f"Microsoft Graph denied listing users ({code or status}): the application "
            "needs the User.Read.All (or User.ReadWrite.All) application permission"
        )
    if op in _APP_OPS and (code == NOT_FOUND or status == 404):
        return f'Entra application "{subject}" was not found ({code or "404"})'
    if op is GraphOp.DELETE_TAP and status == 404:
        return f'Entra found no such Temporary Access Pass of user "{subject}" (404)'
    if code == ACCESS_DENIED:
        return _access_denied(op, subject)
    if code == NOT_FOUND or (status == 404 and not code):
        return f'Entra user "{subject}" was not found ({code or "404"})'
    return None


def _access_denied(op: GraphOp, subject: str) -> str:
    if op is GraphOp.SET_PASSWORD:
        return (
            f'Microsoft Graph denied resetting the password of user "{subject}" '
            f"({ACCESS_DENIED}): the application needs the "
            "User-PasswordProfile.ReadWrite.All or User.ReadWrite.All application "
            "permission with admin consent, and the User Administrator directory role "
            "(Privileged Authentication Administrator if the user is an administrator)"
        )
    if op is GraphOp.READ_ROLES:
        return (
            f'Microsoft Graph denied reading the directory roles of user "{subject}" '
            f"({ACCESS_DENIED}): the application needs the User.Read.All application "
            "permission with admin consent to read memberships, and "
            "RoleManagement.Read.Directory to see which roles they are"
        )
    return (
        f'Microsoft Graph denied reading user "{subject}" ({ACCESS_DENIED}): the '
        "application needs the User.Read.All (or User.ReadWrite.All) application "
        "permission with admin consent"
    )


def _failure(status: int, code: str, op: GraphOp, subject: str, what: str, deadline: float) -> str:
    """The sentence for any other failure: a refused password, a token, throttling, 5xx."""
    shown = f"{status} {code}".strip()
    if code == BAD_REQUEST and op is GraphOp.SET_PASSWORD:
        return (
            f'Entra refused the generated password for user "{subject}" ({BAD_REQUEST}): '
            "it does not meet the tenant's password policy"
        )
    if status == 401:
        return (
            f"Microsoft Graph rejected the application's access token ({shown}); check "
            "that graph_endpoint belongs to the same cloud as authority_host"
        )
    if status == 429:
        return (
            f"Microsoft Graph throttled {what} (429) beyond this request's "
            f"{deadline:g}s limit; try again later"
        )
    if status >= 500:
        return f"Microsoft Graph failed {what} ({shown})"
    return f"Microsoft Graph refused {what} ({shown})"
