"""Sending one Graph operation: call slots, a shared Retry-After, retries within a deadline.

429 and 503 wait for Retry-After (at most `max_retry_after`), and every caller waits it
out, not only the one that was told; other 5xx, timeouts and dropped connections back off
with jitter; a 401 refreshes the token once. Never more than `max_concurrent` calls are
in flight, and a call waits a bounded time for a slot, so an Entra outage is never
amplified into an unbounded backlog. Request bodies and tokens never reach errors or logs.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from mount.sdk import MetricsSink, NullSink, UpstreamError
from plugin import metrics as engine_metrics
from plugin.client_certificate import ca_bundle_pem
from plugin.graph.connections import ConnectionPerCallTransport
from plugin.graph.errors import (
    RETRY_STATUSES,
    GraphBusyError,
    GraphError,
    GraphOp,
    error_fields,
    status_error,
    timed_out,
    transport_error,
)

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_MAX_CONCURRENT",
    "DEFAULT_MAX_RETRY_AFTER",
    "DEFAULT_QUEUE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "GraphTransport",
    "TokenSource",
    "tls_context",
]

logger = logging.getLogger("plugin.graph")

DEFAULT_DEADLINE = 30.0  # seconds for one operation, retries included
DEFAULT_TIMEOUT = 10.0  # seconds for one HTTP exchange
DEFAULT_MAX_CONCURRENT = 32  # Graph calls in flight at once, for the whole engine
DEFAULT_QUEUE_TIMEOUT = 10.0  # seconds a call may wait for a free slot before a 503
# The longest Retry-After honoured: a password that should be dead waits no longer than
# this for Graph to take calls again (a longer ask costs one more throttled call).
DEFAULT_MAX_RETRY_AFTER = 60.0

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


class _NoCookies(CookieJar):
    """Keeps no cookies: Graph needs none, and each call stays independent of the last.

    httpx offers every response to the client's jar; the standard jar parsed each one's
    headers to find none, several percent of the broker's CPU per credential.
    """

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None


@dataclass(slots=True)
class _Call:
    """One operation's progress through its attempts."""

    method: str
    path: str
    op: GraphOp
    subject: str
    end: float
    params: dict[str, str] | None
    json: dict[str, Any] | None
    attempt: int = 0
    maybe_applied: bool = False  # sticky: once a write may have landed, it stays "maybe"
    refreshed: bool = False
    # What the last attempt failed with: if a pause before the next one overruns the
    # deadline (a busy loop wakes late), that answer says more than "did not complete".
    last_error: GraphError | None = None

    @property
    def mutating(self) -> bool:
        return self.method != "GET"

    @property
    def what(self) -> str:
        return self.op.describe(self.subject)


class GraphTransport:
    """One httpx client to Graph, and the discipline every call goes through (`_send`)."""

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
        self.backoff = backoff
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

    def deadline_from_now(self) -> float:
        """An absolute deadline for an operation made of several calls."""
        return asyncio.get_running_loop().time() + self.deadline

    async def _send(
        self,
        method: str,
        path: str,
        *,
        op: GraphOp,
        subject: str,
        deadline: float | None,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
    ) -> httpx.Response:
        loop = asyncio.get_running_loop()
        end = deadline if deadline is not None else loop.time() + self.deadline
        call = _Call(method, path, op, subject, end, params, json)
        while True:
            call.attempt += 1
            token = await self._token(call)
            await self._wait_for_slot(call.what, call.end, call.maybe_applied)
            started = loop.time()
            try:
                response = await self._exchange(call, token)
            except httpx.TransportError as exc:
                error = await self._no_answer(call, exc, loop.time() - started)
                if error is not None:
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
            error = await self._failed(call, response)
            if error is not None:
                raise error

    async def _token(self, call: _Call) -> str:
        """A bearer token within what is left of the deadline."""
        remaining = call.end - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise call.last_error or timed_out(call.what, self.deadline, call.maybe_applied)
        try:
            # asyncio.timeout, not wait_for: no task is made per call.
            async with asyncio.timeout(remaining):
                return await self._tokens.token()
        except TimeoutError:
            raise timed_out(call.what, self.deadline, call.maybe_applied) from None
        except UpstreamError as exc:
            if not call.maybe_applied:
                raise
            raise GraphError(
                exc.message,
                retryable=exc.retryable,
                may_have_applied=True,
                retry_after=exc.retry_after,
            ) from None

    async def _exchange(self, call: _Call, token: str) -> httpx.Response:
        """One HTTP attempt in the slot taken for it, which it gives back."""
        try:
            remaining = call.end - asyncio.get_running_loop().time()
            timeout = httpx.Timeout(max(0.001, min(self._timeout, remaining)))
            # Built here and sent as is: the client's build_request merges its defaults
            # (URL, headers, cookies, params) anew for every call, 15% of a call's CPU;
            # the defaults are merged once in __init__.
            request = httpx.Request(
                call.method,
                self.base_url + call.path,
                params=call.params,
                json=call.json,
                headers={**self._headers, "Authorization": f"Bearer {token}"},
                extensions={"timeout": timeout.as_dict()},
            )
            return await self._client.send(request)
        finally:
            self._slots.release()

    async def _no_answer(
        self, call: _Call, exc: httpx.TransportError, seconds: float
    ) -> GraphError | None:
        """After a transport failure: None when the call is worth another attempt."""
        self._count_attempt(call.method, "error", seconds)
        # A connect failure means nothing was sent; anything later may have reached Graph
        # and been applied even though no answer came back.
        sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        call.maybe_applied = call.maybe_applied or (call.mutating and sent)
        host = urlsplit(self.base_url).netloc
        error = call.last_error = transport_error(exc, host, call.what, call.maybe_applied)
        if not error.retryable or not await self._pause(
            None, call.attempt, call.end, call.method, call.path, None, ""
        ):
            return error
        return None

    async def _failed(self, call: _Call, response: httpx.Response) -> GraphError | None:
        """After a failure status: None when the call is worth another attempt."""
        status = response.status_code
        code, request_id = error_fields(response)
        if status == 401 and not call.refreshed:
            # A token Graph no longer accepts (revoked, rotated signing keys): one fresh
            # token is worth a try; a second 401 is a real refusal.
            call.refreshed = True
            logger.debug("graph 401, refreshing token request_id=%s", request_id)
            await self._tokens.invalidate()
            return None
        if call.mutating and status >= 500:
            call.maybe_applied = True
        wait = self._asked_wait(response) if status in (429, 503) else None
        error = status_error(
            status, code, request_id, call.op, call.subject, self.deadline, call.maybe_applied
        )
        error.retry_after = wait
        call.last_error = error
        if status in RETRY_STATUSES:
            if wait is not None:
                # Every caller waits it out, not just this one: Graph counts throttled
                # requests against us too.
                loop = asyncio.get_running_loop()
                self._not_before = max(self._not_before, loop.time() + wait)
            if await self._pause(
                wait, call.attempt, call.end, call.method, call.path, status, request_id
            ):
                return None
        return error

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
