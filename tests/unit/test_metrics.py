"""The metric table, the sink's checks, and both renderings (mount/metrics.py, sdk/telemetry.py)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mount.leases.gauges import LeaseGauges
from mount.leases.record import Lease, LeaseState
from mount.metrics import BrokerMetrics
from mount.sdk.telemetry import (
    CREDS_ISSUED,
    EXPIRY_LAG,
    LEASES_ACTIVE,
    LEASES_IRREVOCABLE,
    REVOCATIONS,
    MetricError,
    MetricKind,
    MetricSpec,
    NullSink,
)
from mount.sdk.telemetry import METRICS as HOST_METRICS
from plugin.metrics import GRAPH_THROTTLE_WAIT_SECONDS
from plugin.metrics import METRICS as ENGINE_METRICS

# Every series a broker with entra/ mounted exports: the host's, then the engine's.
METRICS = (*HOST_METRICS, *ENGINE_METRICS)


def broker_metrics(**kwargs) -> BrokerMetrics:
    """The sink of a core with the Entra engine mounted (which declares its series)."""
    metrics = BrokerMetrics(**kwargs)
    metrics.declare(ENGINE_METRICS)
    return metrics


def families(metrics: BrokerMetrics) -> dict[str, dict[tuple, float]]:
    """Parsed Prometheus text: sample name -> {sorted label items: value}."""
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(metrics.prometheus_text().decode()):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_the_table_is_well_formed():
    names = [spec.name for spec in METRICS]
    assert len(names) == len(set(names))
    for spec in METRICS:
        assert re.fullmatch(r"entra_broker_[a-z_]+", spec.name), spec.name
        assert spec.help.strip().endswith("."), spec.name
        assert spec.name.endswith("_total") == (spec.kind is MetricKind.COUNTER), spec.name
        assert (spec.kind is MetricKind.HISTOGRAM) == bool(spec.buckets), spec.name
        assert list(spec.buckets) == sorted(spec.buckets)
        assert all(re.fullmatch(r"[a-z_]+", label) for label in spec.labels)
        if spec.kind is MetricKind.HISTOGRAM:
            assert spec.name.endswith("_seconds"), spec.name


@pytest.mark.parametrize("sink", [broker_metrics(), NullSink()], ids=["broker", "null"])
def test_reports_outside_the_table_are_refused(sink):
    with pytest.raises(MetricError, match="not declared"):
        sink.incr("entra_broker_nope_total")
    with pytest.raises(MetricError, match="is a histogram, not a counter"):
        sink.incr(EXPIRY_LAG, {"mount": "entra/"})
    with pytest.raises(MetricError, match=r"takes labels \['mount', 'role'\]"):
        sink.incr(CREDS_ISSUED, {"mount": "entra/"})
    with pytest.raises(MetricError, match="is a counter, not a histogram"):
        sink.observe(CREDS_ISSUED, {"mount": "entra/", "role": "a"}, 1.0)


@pytest.mark.parametrize("sink", [BrokerMetrics(), NullSink()], ids=["broker", "null"])
def test_an_engine_series_counts_once_declared_and_a_clash_is_refused(sink):
    with pytest.raises(MetricError, match="not declared"):
        sink.incr(GRAPH_THROTTLE_WAIT_SECONDS)
    sink.declare(ENGINE_METRICS)
    sink.declare(ENGINE_METRICS)  # a second mount of the same engine
    sink.incr(GRAPH_THROTTLE_WAIT_SECONDS, value=2.0)
    with pytest.raises(MetricError, match="already declared otherwise"):
        sink.declare([MetricSpec(CREDS_ISSUED, MetricKind.COUNTER, "Another meaning.")])


def test_counters_cannot_go_down():
    with pytest.raises(MetricError, match="cannot go down"):
        broker_metrics().incr(GRAPH_THROTTLE_WAIT_SECONDS, value=-1.0)


def test_prometheus_text_parses_and_carries_every_family():
    metrics = broker_metrics()
    metrics.incr(CREDS_ISSUED, {"mount": "entra/", "role": "alice"})
    metrics.incr(CREDS_ISSUED, {"mount": "entra/", "role": "alice"})
    metrics.incr(REVOCATIONS, {"mount": "entra/", "result": "ok"})
    metrics.incr(GRAPH_THROTTLE_WAIT_SECONDS, value=1.5)
    for lag in (0.2, 0.7, 400.0):
        metrics.observe(EXPIRY_LAG, {"mount": "entra/"}, lag)

    text = metrics.prometheus_text().decode()
    declared = {f.name for f in text_string_to_metric_families(text)}
    assert declared == {re.sub(r"_total$", "", spec.name) for spec in METRICS}
    assert "_created" not in text  # no per-series creation stamps: the same numbers as JSON

    found = families(metrics)
    assert found["entra_broker_creds_issued_total"] == {
        (("mount", "entra/"), ("role", "alice")): 2.0
    }
    assert found["entra_broker_revocations_total"] == {(("mount", "entra/"), ("result", "ok")): 1.0}
    assert found["entra_broker_graph_throttle_wait_seconds_total"] == {(): 1.5}
    buckets = found["entra_broker_expiry_lag_seconds_bucket"]
    assert buckets[(("le", "0.25"), ("mount", "entra/"))] == 1.0
    assert buckets[(("le", "1.0"), ("mount", "entra/"))] == 2.0
    assert buckets[(("le", "300.0"), ("mount", "entra/"))] == 2.0
    assert buckets[(("le", "+Inf"), ("mount", "entra/"))] == 3.0
    assert found["entra_broker_expiry_lag_seconds_count"] == {(("mount", "entra/"),): 3.0}
    assert found["entra_broker_expiry_lag_seconds_sum"] == {(("mount", "entra/"),): 400.9}


def lease(lease_id: str, state: LeaseState = LeaseState.ACTIVE) -> Lease:
    return Lease(
        lease_id=lease_id,
        mount=lease_id.split("/", 1)[0] + "/",
        secret_type="creds",
        internal={},
        issue_time=0.0,
        expire_time=60.0,
        ttl=60,
        max_ttl=60,
        renewable=True,
        state=state,
    )


def test_lease_gauges_count_per_role_and_keep_roles_seen_at_zero():
    held = [
        lease("entra/creds/alice/1"),
        lease("entra/creds/alice/2", LeaseState.PENDING),
        lease("entra/creds/bob/3", LeaseState.IRREVOCABLE),
    ]
    metrics = broker_metrics()
    metrics.add_gauge_source(LeaseGauges(lambda: held))
    alice, bob = {"mount": "entra/", "role": "alice"}, {"mount": "entra/", "role": "bob"}
    assert metrics.value(LEASES_ACTIVE, alice) == 2
    assert metrics.value(LEASES_IRREVOCABLE, alice) == 0
    assert metrics.value(LEASES_ACTIVE, bob) == 0
    assert metrics.value(LEASES_IRREVOCABLE, bob) == 1

    held.clear()
    found = families(metrics)
    # Alerts on a role resolve: its series drops to 0 instead of disappearing.
    assert found["entra_broker_leases_active"] == {
        tuple(sorted(alice.items())): 0.0,
        tuple(sorted(bob.items())): 0.0,
    }


def test_vault_json_has_go_metrics_shape_and_the_same_numbers():
    now = [1_000.0]
    metrics = broker_metrics(clock=lambda: now[0])
    metrics.add_gauge_source(LeaseGauges(lambda: [lease("entra/creds/alice/1")]))
    metrics.incr(CREDS_ISSUED, {"mount": "entra/", "role": "alice"})
    metrics.incr(CREDS_ISSUED, {"mount": "entra/", "role": "alice"})
    for lag in (1.0, 3.0):
        metrics.observe(EXPIRY_LAG, {"mount": "entra/"}, lag)
    now[0] += 10

    body = metrics.vault_json()
    assert list(body) == ["Timestamp", "Gauges", "Points", "Counters", "Samples"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", body["Timestamp"])
    assert {"Name": LEASES_ACTIVE, "Value": 1, "Labels": {"mount": "entra/", "role": "alice"}} in (
        body["Gauges"]
    )
    (issued,) = body["Counters"]
    assert issued == {
        "Name": CREDS_ISSUED,
        "Count": 2,
        "Rate": 0.2,
        "Sum": 2.0,
        "Min": 1.0,
        "Max": 1.0,
        "Mean": 1.0,
        "Stddev": 0.0,
        "Labels": {"mount": "entra/", "role": "alice"},
    }
    (lag,) = body["Samples"]
    assert lag["Name"] == EXPIRY_LAG and lag["Labels"] == {"mount": "entra/"}
    assert (lag["Count"], lag["Sum"], lag["Min"], lag["Max"], lag["Mean"]) == (2, 4.0, 1, 3, 2)
    assert math.isclose(lag["Stddev"], math.sqrt(2))


def test_a_counter_without_labels_reads_zero_before_its_first_increment():
    found = families(broker_metrics())
    assert found["entra_broker_graph_throttle_waits_total"] == {(): 0.0}
    assert "entra_broker_creds_issued_total" not in found  # labelled: no series yet


def test_every_metric_is_documented_with_its_type_and_labels():
    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    rows = {
        cells[0].strip("` "): cells
        for line in text.splitlines()
        if line.startswith("| `entra_broker_")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    for spec in METRICS:
        assert spec.name in rows, f"docs/operations.md has no row for {spec.name}"
        cells = rows[spec.name]
        assert cells[1] == spec.kind.value, spec.name
        documented = [label.strip("` ") for label in cells[2].split(",") if label.strip()]
        # The host gives every series an engine declares its mount's label (MountMetrics).
        exported = ["mount", *spec.labels] if spec in ENGINE_METRICS else list(spec.labels)
        assert documented == exported, spec.name
    assert set(rows) == {spec.name for spec in METRICS}
