"""The host's metric table and the sink a backend reports to: every series, declared once.

The mount implements the sink on a Prometheus registry (mount/metrics.py); backends only
see the `MetricsSink` protocol through `BackendConfig.metrics`, so an engine never imports
a metrics library. A name, kind or label set that is not declared is refused at once,
so a misspelt series fails a test instead of vanishing from dashboards.

`METRICS` holds what the host itself emits. An engine declares its own series (the Entra
engine's Graph calls: plugin/metrics.py) to the sink it is given when it is built, and
the host exports them after its own (docs/operations.md lists both).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "API_REQUESTS",
    "CREDS_ISSUED",
    "EXPIRY_LAG",
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
    "declare_specs",
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

# Buckets in seconds: expiry lag should stay under a second or two.
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
)

_BY_NAME = {spec.name: spec for spec in METRICS}


def check_sample(
    name: str,
    kind: MetricKind,
    labels: Mapping[str, str],
    declared: Mapping[str, MetricSpec] = _BY_NAME,
) -> MetricSpec:
    """The spec of `name` in `declared` (default: the host's table); MetricError unless
    its kind and label names are as declared."""
    spec = declared.get(name)
    if spec is None:
        raise MetricError(
            f"metric {name} is not declared in mount.sdk.telemetry.METRICS or by its engine"
        )
    if spec.kind is not kind:
        raise MetricError(f"metric {name} is a {spec.kind.value}, not a {kind.value}")
    if tuple(sorted(labels)) != tuple(sorted(spec.labels)):
        raise MetricError(f"metric {name} takes labels {list(spec.labels)}, not {sorted(labels)}")
    return spec


def declare_specs(declared: dict[str, MetricSpec], specs: Iterable[MetricSpec]) -> None:
    """Add `specs` to `declared`: the same spec twice is one, another under a taken name
    a MetricError (two mounts of one engine declare the same series)."""
    for spec in specs:
        known = declared.setdefault(spec.name, spec)
        if known != spec:
            raise MetricError(f"metric {spec.name} is already declared otherwise: {known}")


class MetricsSink(Protocol):
    """Where a backend reports what it did; implementations check against what is declared:
    the host's `METRICS` and the series backends declared."""

    def declare(self, specs: Iterable[MetricSpec]) -> None:
        """A backend's own series, declared when it is built, before it reports any."""

    def incr(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        """Add `value` (>= 0) to a counter."""

    def observe(self, name: str, labels: Mapping[str, str] | None, value: float) -> None:
        """Record one observation of a histogram (seconds)."""


class NullSink:
    """A sink that checks every report against the table and keeps nothing.

    The default for backends built without a mount (unit tests, other hosts): a wrong
    name still fails, so such tests guard the table too.
    """

    def __init__(self) -> None:
        self._declared = dict(_BY_NAME)

    def declare(self, specs: Iterable[MetricSpec]) -> None:
        declare_specs(self._declared, specs)

    def incr(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        check_sample(name, MetricKind.COUNTER, labels or {}, self._declared)

    def observe(self, name: str, labels: Mapping[str, str] | None, value: float) -> None:
        check_sample(name, MetricKind.HISTOGRAM, labels or {}, self._declared)
