"""Error bodies as Graph and Entra's token endpoint send them, and the ids they carry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from emulator.keys import CLIENT_REQUEST_ID, REQUEST_ID

__all__ = [
    "GraphProblem",
    "admin_error",
    "graph_code_for",
    "graph_error",
    "is_admin_path",
    "is_graph_path",
    "oauth_error",
    "oauth_error_for",
]

# The default Graph error code for a status (fault injection and unexpected failures).
_GRAPH_CODES: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Bad request."),
    401: ("InvalidAuthenticationToken", "Access token validation failure. Invalid audience."),
    403: ("Authorization_RequestDenied", "Insufficient privileges to complete the operation."),
    404: ("Request_ResourceNotFound", "Resource does not exist."),
    429: ("TooManyRequests", "Too many requests. Retry after the time in the Retry-After header."),
    500: ("InternalServerError", "An internal server error occurred."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please try again later."),
}

# OAuth error, AADSTS code and description for a status at the login endpoints.
_OAUTH_CODES: dict[int, tuple[str, int, str]] = {
    400: ("invalid_request", 900144, "The request is not valid."),
    401: ("invalid_client", 7000215, "Invalid client secret provided."),
    429: ("temporarily_unavailable", 90055, "There are too many incoming requests."),
    500: ("server_error", 50000, "There was an error issuing a token."),
    503: ("temporarily_unavailable", 90033, "A transient error has occurred. Please try again."),
}


class GraphProblem(Exception):
    """Raised by Graph handlers: becomes Graph's error body with this status and code."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def is_graph_path(path: str) -> bool:
    return path.startswith(("/v1.0/", "/beta/")) or path in ("/v1.0", "/beta")


def is_admin_path(path: str) -> bool:
    return path.startswith("/_emulator/") or path == "/_emulator"


def graph_code_for(status: int) -> tuple[str, str]:
    """Graph's usual error code and a message for an HTTP status."""
    if status in _GRAPH_CODES:
        return _GRAPH_CODES[status]
    if status >= 500:
        return "UnknownError", "An unknown error occurred."
    return "BadRequest", "Bad request."


def graph_error(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """`{"error": {"code", "message", "innerError": {"date", "request-id", ...}}}`."""
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request.get(REQUEST_ID, ""),
                "client-request-id": request.get(CLIENT_REQUEST_ID, ""),
            },
        }
    }
    return web.json_response(body, status=status, headers=headers)


def oauth_error(
    request: web.Request,
    status: int,
    error: str,
    aadsts: int,
    description: str,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Entra's token endpoint error: `error`, `error_description` "AADSTSnnn: …", codes, ids."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id = request.get(REQUEST_ID, "")
    correlation_id = request.get(CLIENT_REQUEST_ID, "")
    body: dict[str, Any] = {
        "error": error,
        "error_description": (
            f"AADSTS{aadsts}: {description}\r\nTrace ID: {trace_id}\r\n"
            f"Correlation ID: {correlation_id}\r\nTimestamp: {now}"
        ),
        "error_codes": [aadsts],
        "timestamp": now,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={aadsts}",
    }
    return web.json_response(body, status=status, headers=headers)


def oauth_error_for(
    request: web.Request, status: int, *, headers: dict[str, str] | None = None
) -> web.Response:
    """An OAuth-style error for a bare status (fault injection, unexpected failures)."""
    if status in _OAUTH_CODES:
        error, aadsts, description = _OAUTH_CODES[status]
    elif status >= 500:
        error, aadsts, description = _OAUTH_CODES[500]
    else:
        error, aadsts, description = _OAUTH_CODES[400]
    return oauth_error(request, status, error, aadsts, description, headers=headers)


def admin_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
