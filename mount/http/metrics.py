"""Counts every HTTP answer by method and status, for `entra_broker_requests_total`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from mount.sdk.telemetry import API_REQUESTS, MetricsSink

__all__ = ["request_metrics_middleware"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Any other method string a client sends is counted as "other": label values stay bounded.
_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "LIST", "OPTIONS"})


def request_metrics_middleware(
    metrics: MetricsSink,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An aiohttp middleware, placed outermost so it sees the status the client gets."""

    @web.middleware
    async def count_requests(request: web.Request, handler: _Handler) -> web.StreamResponse:
        method = request.method.upper()
        method = method if method in _METHODS else "other"
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            metrics.incr(API_REQUESTS, {"method": method, "status": str(exc.status)})
            raise
        metrics.incr(API_REQUESTS, {"method": method, "status": str(response.status)})
        return response

    return count_requests
