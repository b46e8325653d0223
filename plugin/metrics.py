"""The Entra engine's own metric series: its Microsoft Graph calls.

Declared to the mount's sink when the backend is built (EntraBackend), so the host
exports them after its own; docs/operations.md lists them with the host's.
"""

from __future__ import annotations

from mount.sdk.telemetry import PREFIX, MetricKind, MetricSpec

__all__ = [
    "GRAPH_REQUESTS",
    "GRAPH_REQUEST_DURATION",
    "GRAPH_THROTTLE_WAITS",
    "GRAPH_THROTTLE_WAIT_SECONDS",
    "METRICS",
]

GRAPH_REQUESTS = PREFIX + "graph_requests_total"
GRAPH_REQUEST_DURATION = PREFIX + "graph_request_duration_seconds"
GRAPH_THROTTLE_WAITS = PREFIX + "graph_throttle_waits_total"
GRAPH_THROTTLE_WAIT_SECONDS = PREFIX + "graph_throttle_wait_seconds_total"

# Seconds: Graph answers in tens to hundreds of milliseconds, and an operation may take
# up to its 30 s deadline.
_GRAPH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        GRAPH_REQUESTS,
        MetricKind.COUNTER,
        "Microsoft Graph HTTP attempts, by method and status (error: no answer).",
        ("method", "status"),
    ),
    MetricSpec(
        GRAPH_REQUEST_DURATION,
        MetricKind.HISTOGRAM,
        "Seconds per Microsoft Graph HTTP attempt, answered or not.",
        ("method",),
        _GRAPH_BUCKETS,
    ),
    MetricSpec(
        GRAPH_THROTTLE_WAITS,
        MetricKind.COUNTER,
        "Waits for a Retry-After that Microsoft Graph asked for (429 or 503).",
    ),
    MetricSpec(
        GRAPH_THROTTLE_WAIT_SECONDS,
        MetricKind.COUNTER,
        "Seconds spent waiting for a Retry-After that Microsoft Graph asked for.",
    ),
)
