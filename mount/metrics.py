"""The broker's metrics: the sink behind `BackendConfig.metrics`, rendered two ways.

One `BrokerMetrics` per Core, each with its own Prometheus `CollectorRegistry` (tests build
several cores in one process, so the library's global registry is never used). Counters
and histograms are kept here, per label set, with the aggregates Vault's JSON form shows
(count, sum, min, max, sum of squares); gauges are read at scrape time from their sources
(the lease manager), so they are never stale. Both renderings read the same numbers.

Everything runs on the event loop: no locks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mount.sdk.telemetry import (
    METRICS,
    MetricError,
    MetricKind,
    MetricSpec,
    check_sample,
)

__all__ = [
    "PROMETHEUS_CONTENT_TYPE",
    "BrokerMetrics",
    "GaugeSample",
]

# The text exposition format Vault answers with (captured from OpenBao's sys/metrics).
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LabelKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class GaugeSample:
    name: str
    labels: Mapping[str, str]
    value: float


GaugeSource = Callable[[], Iterable[GaugeSample]]


@dataclass(slots=True)
class _Series:
    """One label set of a counter or histogram, with go-metrics' aggregate fields."""

    count: int = 0
    sum: float = 0.0
    sum_sq: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    buckets: list[int] = field(default_factory=list)  # per bucket, not cumulative

    def add(self, value: float, bounds: tuple[float, ...]) -> None:
        self.count += 1
        self.sum += value
        self.sum_sq += value * value
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        if bounds:
            if not self.buckets:
                self.buckets = [0] * (len(bounds) + 1)
            index = next((i for i, bound in enumerate(bounds) if value <= bound), len(bounds))
            self.buckets[index] += 1

    def aggregate(self, rate_seconds: float) -> dict[str, Any]:
        """go-metrics' AggregateSample fields plus Mean and Stddev."""
        mean = self.sum / self.count if self.count else 0.0
        if self.count > 1:
            variance = (self.count * self.sum_sq - self.sum**2) / (self.count * (self.count - 1))
            stddev = math.sqrt(max(0.0, variance))
        else:
            stddev = 0.0
        return {
            "Count": self.count,
            "Rate": self.sum / rate_seconds if rate_seconds > 0 else 0.0,
            "Sum": self.sum,
            "Min": self.min if self.count else 0.0,
            "Max": self.max if self.count else 0.0,
            "Mean": mean,
            "Stddev": stddev,
        }


def _key(labels: Mapping[str, str] | None) -> LabelKey:
    return tuple(sorted((labels or {}).items()))


class BrokerMetrics:
    """The MetricsSink of one Core, with Prometheus and Vault-JSON renderings."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self.started = clock()
        self._series: dict[str, dict[LabelKey, _Series]] = {
            spec.name: {} for spec in METRICS if spec.kind is not MetricKind.GAUGE
        }
        # The counters' part of _series, so that a sample is never taken for another kind.
        self._counters = {
            spec.name: self._series[spec.name]
            for spec in METRICS
            if spec.kind is MetricKind.COUNTER
        }
        self._gauge_sources: list[GaugeSource] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_RegistryView(self))

    # -- the sink ---------------------------------------------------------------------

    def incr(self, name: str, labels: Mapping[str, str] | None = None, value: float = 1.0) -> None:
        if value < 0 or math.isnan(value):
            raise MetricError(f"counter {name} cannot go down (got {value})")
        key = _key(labels)
        series = self._counters.get(name, {}).get(key)
        if series is None:
            # The first sample of a series is checked against its declaration; the ones
            # after it have the same name and labels (every API request counts one).
            check_sample(name, MetricKind.COUNTER, labels or {})
            series = self._series[name].setdefault(key, _Series())
        series.add(value, ())

    def observe(self, name: str, labels: Mapping[str, str] | None, value: float) -> None:
        spec = check_sample(name, MetricKind.HISTOGRAM, labels or {})
        self._series[name].setdefault(_key(labels), _Series()).add(value, spec.buckets)

    def add_gauge_source(self, source: GaugeSource) -> None:
        """Register a function read at every scrape; it yields the current gauge values."""
        self._gauge_sources.append(source)

    # -- reading --------------------------------------------------------------------------

    def value(self, name: str, labels: Mapping[str, str] | None = None) -> float:
        """A counter's total, a histogram's observation count, or a gauge's value (0 if unseen)."""
        if name in self._series:
            found = self._series[name].get(_key(labels))
            if found is None:
                return 0.0
            spec = next(s for s in METRICS if s.name == name)
            return found.sum if spec.kind is MetricKind.COUNTER else float(found.count)
        wanted = _key(labels)
        return sum(g.value for g in self.gauges() if g.name == name and _key(g.labels) == wanted)

    def label_sets(self, name: str) -> list[dict[str, str]]:
        """The label sets a counter or histogram has recorded so far."""
        return [dict(key) for key in sorted(self._series[name])]

    def gauges(self) -> list[GaugeSample]:
        found: list[GaugeSample] = []
        for source in self._gauge_sources:
            for sample in source():
                check_sample(sample.name, MetricKind.GAUGE, sample.labels)
                found.append(sample)
        return found

    def families(self) -> Iterator[Metric]:
        """Prometheus metric families, in table order (what the registry collects)."""
        gauges = self.gauges()
        for spec in METRICS:
            if spec.kind is MetricKind.GAUGE:
                gauge = GaugeMetricFamily(spec.name, spec.help, labels=list(spec.labels))
                for sample in gauges:
                    if sample.name == spec.name:
                        gauge.add_metric([sample.labels[n] for n in spec.labels], sample.value)
                yield gauge
            elif spec.kind is MetricKind.COUNTER:
                counter = CounterMetricFamily(spec.name, spec.help, labels=list(spec.labels))
                for key, series in sorted(self._series[spec.name].items()):
                    counter.add_metric(_values(spec, key), series.sum)
                if not spec.labels and not self._series[spec.name]:
                    counter.add_metric([], 0.0)  # one series only: show it from the start
                yield counter
            else:
                yield self._histogram(spec)

    def _histogram(self, spec: MetricSpec) -> HistogramMetricFamily:
        family = HistogramMetricFamily(spec.name, spec.help, labels=list(spec.labels))
        for key, series in sorted(self._series[spec.name].items()):
            per_bucket = series.buckets or [0] * (len(spec.buckets) + 1)
            cumulative, running = [], 0
            for bound, count in zip((*spec.buckets, math.inf), per_bucket, strict=True):
                running += count
                cumulative.append((_bound(bound), float(running)))
            family.add_metric(_values(spec, key), cumulative, series.sum)
        return family

    def prometheus_text(self) -> bytes:
        """The text exposition format (0.0.4), as Vault's `?format=prometheus`."""
        return generate_latest(self.registry)

    def vault_json(self) -> dict[str, Any]:
        """Vault's JSON form (go-metrics' InmemSink summary), totals since start.

        Vault shows the last 10 s interval; a Prometheus-style process keeps totals, so
        here Count/Sum run since start and Rate is Sum per second since start.
        """
        now = self._clock()
        elapsed = max(now - self.started, 1e-9)
        stamp = datetime.fromtimestamp(round(now), UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
        counters: list[dict[str, Any]] = []
        samples: list[dict[str, Any]] = []
        for spec in METRICS:
            if spec.kind is MetricKind.GAUGE:
                continue
            target = counters if spec.kind is MetricKind.COUNTER else samples
            for key, series in sorted(self._series[spec.name].items()):
                target.append({"Name": spec.name, **series.aggregate(elapsed), "Labels": dict(key)})
        gauges = [
            {"Name": g.name, "Value": g.value, "Labels": dict(g.labels)}
            for g in sorted(self.gauges(), key=lambda g: (g.name, _key(g.labels)))
        ]
        return {
            "Timestamp": stamp,
            "Gauges": gauges,
            "Points": [],
            "Counters": counters,
            "Samples": samples,
        }


class _RegistryView(Collector):
    """Lets a CollectorRegistry collect BrokerMetrics at scrape time."""

    def __init__(self, metrics: BrokerMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics.families()


def _values(spec: MetricSpec, key: LabelKey) -> list[str]:
    labels = dict(key)
    return [labels[name] for name in spec.labels]


def _bound(bound: float) -> str:
    """A bucket's `le` label as the client library writes it: 0.5, 1.0, +Inf."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))
