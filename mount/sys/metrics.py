"""sys/metrics: the broker's telemetry, as Vault's JSON or in Prometheus text format."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from mount.caller import current_caller
from mount.metrics import PROMETHEUS_CONTENT_TYPE, BrokerMetrics
from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response

if TYPE_CHECKING:
    from mount.core import Core

__all__ = ["paths"]

PROMETHEUS = "prometheus"


def paths(core: Core) -> list[Path]:
    """The one metrics endpoint, over the core's counters."""
    return [
        Path(
            "metrics",
            {Operation.READ: partial(metrics_read, core.metrics)},
            {
                "format": Field(
                    FieldType.STRING,
                    "Format of the answer: prometheus for the Prometheus text format; "
                    "empty for Vault's JSON summary.",
                )
            },
            help_synopsis="The broker's metrics: lease, credential and Graph call counts.",
            help_description=METRICS_HELP,
            response_schema={"type": "object"},
            other_content_types=("text/plain",),
        )
    ]


async def metrics_read(metrics: BrokerMetrics, req: Request, d: FieldData) -> Response:
    wanted = (d.get("format") or "").strip() or _format_from_accept()
    if wanted == PROMETHEUS:
        return Reply(raw_body=metrics.prometheus_text(), content_type=PROMETHEUS_CONTENT_TYPE)
    if wanted:
        # Vault answers the same sentence (as plain text); ours keeps the JSON error shape.
        raise InvalidRequestError(
            f'metric response format "{wanted}" unknown; use format=prometheus, '
            "or no format for JSON"
        )
    return Reply(raw=metrics.vault_json())


def _format_from_accept() -> str:
    """Vault's rule: a Prometheus server asks for OpenMetrics first in its Accept header."""
    accept = current_caller().accept
    if accept.startswith("application/openmetrics-text") or "prometheus/telemetry" in accept:
        return PROMETHEUS
    return ""


METRICS_HELP = """\
Counters, gauges and histograms of the broker since it started: active and irrevocable
leases per role, credentials issued, renewals, revocation outcomes, Microsoft Graph calls
by status with their latency, Retry-After waits, and how late expired leases were revoked.
GET sys/metrics?format=prometheus answers in the Prometheus text format, for scraping with
a bearer token; without a format the answer is Vault's JSON summary of the same numbers.
"""
