"""The metric table and the sink a backend reports to: every series, declared once.

The mount implements the sink on a Prometheus registry (mount/metrics.py); backends only
see the `MetricsSink` protocol through `BackendConfig.metrics`, so an engine never imports
a metrics library. A name, kind or label set that is not in `METRICS` is refused at once,
so a misspelt series fails a test instead of vanishing from dashboards.

Engine series (the Graph calls of the Entra engine) are declared here too: one table
documents every series the broker can export (docs/operations.md mirrors it).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "API_REQUESTS",
    "CREDS_ISSUED",
    "EXPIRY_LAG",
    "GRAPH_REQUESTS",
    "GRAPH_REQUEST_DURATION",
    "GRAPH_THROTTLE_WAITS",
    "GRAPH_THROTTLE_WAIT_SECONDS",
    "LEASES_ACTIVE",
    "LEASES_IRREVOCABLE",
    "LEASE_RENEWALS",
    "METRICS",
    "MetricError",
    "MetricKind",
    "MetricSpec",
    "MetricsSink",
    "NullSink",
    "REVOCATIONS",
    "RevokeResult",
    "check_sample",
]


class MetricKind(enum.Enum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class RevokeResult(enum.Enum):
    """The `result` label of the revocations counter."""

    OK = "ok"  # the backend confirmed the credential is gone
    RETRIED = "retried"  # an attempt failed; another is scheduled
    IRREVOCABLE = "irrevocable"  # past the attempt count: shown to operators, still retried
    FORCED = "forced"  # revoke-force dropped the lease, whatever the backend said
    SUPERSEDED = "superseded"  # a newer lease of the same holder replaced the credential


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One series family: Prometheus name, kind, help text, label names, histogram buckets."""

    name: str
    kind: MetricKind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


class MetricError(ValueError):
    """A metric reported against the table: unknown name, wrong kind or wrong labels."""


PREFIX = "entra_broker_"

LEASES_ACTIVE = PREFIX + "leases_active"
LEASES_IRREVOCABLE = PREFIX + "leases_irrevocable"
CREDS_ISSUED = PREFIX + "creds_issued_total"
LEASE_RENEWALS = PREFIX + "lease_renewals_total"
REVOCATIONS = PREFIX + "revocations_total"
EXPIRY_LAG = PREFIX + "expiry_lag_seconds"
API_REQUESTS = PREFIX + "requests_total"
GRAPH_REQUESTS = PREFIX + "graph_requests_total"
GRAPH_REQUEST_DURATION = PREFIX + "graph_request_duration_seconds"
GRAPH_THROTTLE_WAITS = PREFIX + "graph_throttle_waits_total"
GRAPH_THROTTLE_WAIT_SECONDS = PREFIX + "graph_throttle_wait_seconds_total"

# Buckets in seconds. Graph answers in tens to hundreds of milliseconds, and an operation
# may take up to its 30 s deadline; expiry lag should stay under a second or two.
_GRAPH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec(
        LEASES_ACTIVE,
        MetricKind.GAUGE,
        "Leases held that are not irrevocable (valid, being issued, or awaiting revocation).",
        ("mount", "role"),
    ),
    MetricSpec(
        LEASES_IRREVOCABLE,
        MetricKind.GAUGE,
        "Leases whose revocation failed past the attempt count, still retried "
        "(sys/leases?type=irrevocable).",
        ("mount", "role"),
    ),
    MetricSpec(
        CREDS_ISSUED,
        MetricKind.COUNTER,
        "Credentials handed out under a lease.",
        ("mount", "role"),
    ),
    MetricSpec(
        LEASE_RENEWALS,
        MetricKind.COUNTER,
        "Lease renewals granted.",
        ("mount", "role"),
    ),
    MetricSpec(
        REVOCATIONS,
        MetricKind.COUNTER,
        "Lease revocation outcomes: ok, retried, irrevocable, forced, superseded.",
        ("mount", "result"),
    ),
    MetricSpec(
        EXPIRY_LAG,
        MetricKind.HISTOGRAM,
        "Seconds from a lease's expire time to the start of its revocation.",
        ("mount",),
        _LAG_BUCKETS,
    ),
    MetricSpec(
        API_REQUESTS,
        MetricKind.COUNTER,
        "HTTP API requests answered, by method and status code.",
        ("method", "status"),
    ),
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

_BY_NAME = {spec.name: spec for spec in METRICS}


def check_sample(name: str, kind: MetricKind, labels: Mapping[str, str]) -> MetricSpec:
    """The spec of `name`; MetricError unless its kind and label names are as declared."""
    spec = _BY_NAME.get(name)
    if spec is None:
        raise MetricError(f"metric {name} is not declared in mount.sdk.telemetry.METRICS")
    if spec.kind is not kind:
        raise MetricError(f"metric {name} is a {spec.kind.value}, not a {kind.value}")
    if tuple(sorted(labels)) != tuple(sorted(spec.labels)):
        raise MetricError(f"metric {name} takes labels {list(spec.labels)}, not {sorted(labels)}")
    return spec


class MetricsSink(Protocol):
    """Where a backend reports what it did; implementations check against `METRICS`."""

    def incr(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        """Add `value` (>= 0) to a counter."""

    def observe(self, name: str, labels: Mapping[str, str] | None, value: float) -> None:
        """Record one observation of a histogram (seconds)."""


class NullSink:
    """A sink that checks every report against the table and keeps nothing.

    The default for backends built without a mount (unit tests, other hosts): a wrong
    name still fails, so such tests guard the table too.
    """

    def incr(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        check_sample(name, MetricKind.COUNTER, labels or {})

    def observe(self, name: str, labels: Mapping[str, str] | None, value: float) -> None:
        check_sample(name, MetricKind.HISTOGRAM, labels or {})
