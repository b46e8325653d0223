"""What wraps every call: request ids, JSON errors, call counting and injected faults."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from emulator.faults import Fault
from emulator.keys import CALLS_KEY, CLIENT_REQUEST_ID, CLOSING_KEY, FAULTS_KEY, REQUEST_ID
from emulator.responses import (
    GraphProblem,
    admin_error,
    graph_code_for,
    graph_error,
    is_admin_path,
    is_graph_path,
    oauth_error,
    oauth_error_for,
)

__all__ = ["MIDDLEWARES", "pause"]

logger = logging.getLogger(__name__)

_MAX_CLIENT_REQUEST_ID = 128
# Both address forms of one user count as one route.
_ROUTE_ALIASES = {"/v1.0/users{key}": "/v1.0/users/{id}"}


async def pause(request: web.Request, seconds: float) -> None:
    """Wait `seconds`, or less if the server is shutting down."""
    closing = request.app[CLOSING_KEY]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(closing.wait(), timeout=seconds)


def _error_for_exception(request: web.Request, exc: web.HTTPException) -> web.Response:
    path = request.path
    status = exc.status
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
    if is_admin_path(path):
        response = admin_error(status, exc.reason)
    elif is_graph_path(path):
        code, message = graph_code_for(status)
        response = graph_error(request, status, code, message)
    else:
        error = "not_found" if status == 404 else "invalid_request"
        description = f"{request.method} {path}: {exc.reason}"
        response = web.json_response(
            {"error": error, "error_description": description}, status=status
        )
    if headers:
        response.headers.update(headers)
    return response


def _unexpected(request: web.Request) -> web.Response:
    path = request.path
    if is_admin_path(path):
        return admin_error(500, "internal error in the Entra emulator (see its log)")
    if is_graph_path(path):
        code, message = graph_code_for(500)
        return graph_error(request, 500, code, message)
    return oauth_error_for(request, 500)


@web.middleware
async def ids_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each call a request id, answer every failure as JSON, tag the response."""
    request[REQUEST_ID] = str(uuid.uuid4())
    client_request_id = request.headers.get("client-request-id", "")
    if not client_request_id or len(client_request_id) > _MAX_CLIENT_REQUEST_ID:
        client_request_id = str(uuid.uuid4())
    request[CLIENT_REQUEST_ID] = client_request_id
    try:
        response = await handler(request)
    except GraphProblem as problem:
        response = graph_error(
            request, problem.status, problem.code, problem.message, headers=problem.headers
        )
    except web.HTTPException as exc:
        response = _error_for_exception(request, exc)
    except asyncio.CancelledError:
        raise
    except Exception:
        # Bodies and headers are never logged: they carry passwords and secrets.
        logger.exception("emulator handler failed method=%s path=%s", request.method, request.path)
        response = _unexpected(request)
    if not response.prepared:
        if is_graph_path(request.path):
            response.headers["request-id"] = request[REQUEST_ID]
        elif not is_admin_path(request.path):
            response.headers["x-ms-request-id"] = request[REQUEST_ID]
        response.headers["client-request-id"] = request[CLIENT_REQUEST_ID]
    return response


def route_label(request: web.Request) -> str:
    """The call counters' key, "METHOD route": e.g. "PATCH /v1.0/users/{id}"."""
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else request.path
    return f"{request.method} {_ROUTE_ALIASES.get(route, route)}"


@web.middleware
async def count_calls(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every call that reaches the emulator, faulted ones included (not /_emulator/)."""
    if not is_admin_path(request.path):
        request.app[CALLS_KEY][route_label(request)] += 1
    return await handler(request)


def _fault_response(request: web.Request, fault: Fault, status: int) -> web.Response:
    headers: dict[str, str] = {}
    retry_after = fault.retry_after_header()
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if is_graph_path(request.path):
        code, message = graph_code_for(status)
        if status == 404:
            segment = request.path.rstrip("/").rsplit("/", 1)[-1]
            message = (
                f"Resource '{segment}' does not exist or one of its queried "
                "reference-property objects are not present."
            )
        return graph_error(
            request, status, fault.code or code, fault.message or message, headers=headers
        )
    response = oauth_error_for(request, status, headers=headers)
    if fault.code or fault.message:
        body_error = fault.code or ("server_error" if status >= 500 else "invalid_request")
        response = oauth_error(
            request, status, body_error, 50000, fault.message or "Injected fault.", headers=headers
        )
    return response


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Apply the first active fault matching "METHOD /path" (never to /_emulator/)."""
    if is_admin_path(request.path):
        return await handler(request)
    fault = request.app[FAULTS_KEY].pick(request.method, request.path)
    if fault is None:
        return await handler(request)
    logger.info(
        "fault applied id=%s method=%s path=%s status=%s latency_ms=%d timeout=%s drop=%s apply=%s",
        fault.id,
        request.method,
        request.path,
        fault.status,
        fault.latency_ms,
        fault.timeout,
        fault.drop,
        fault.apply,
    )
    if fault.latency_ms:
        await pause(request, fault.latency_ms / 1000)
    answer: web.StreamResponse | None = None
    if fault.apply:
        answer = await handler(request)  # the change happens; only its answer is lost
    if fault.timeout:
        # Hold the call unanswered, then drop the connection without a response.
        await pause(request, fault.hold_seconds)
    if fault.timeout or fault.drop:
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=504)  # never delivered: the connection is closed
    if fault.status is not None:
        return _fault_response(request, fault, fault.status)
    return answer if answer is not None else await handler(request)


MIDDLEWARES = (ids_and_errors, count_calls, inject_faults)
