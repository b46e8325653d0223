"""The lease gauges of sys/metrics: active and irrevocable leases per mount and role."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from mount.leases.record import Lease, LeaseState
from mount.metrics import GaugeSample
from mount.sdk.telemetry import LEASES_ACTIVE, LEASES_IRREVOCABLE

__all__ = ["LeaseGauges"]


class LeaseGauges:
    """Active and irrevocable lease counts per mount and role, read at scrape time.

    A role seen once (holding a lease at a scrape, or in `known`: the label sets of the
    issue counter) keeps reporting, 0 when it has no leases, so that its series does not
    vanish and alerts on it resolve; the set is bounded by the roles ever used. Until
    `complete()` (every stored lease restored at start), no lease series is reported.
    """

    def __init__(
        self,
        leases: Callable[[], Iterable[Lease]],
        known: Callable[[], Iterable[Mapping[str, str]]] = lambda: (),
        complete: Callable[[], bool] = lambda: True,
    ) -> None:
        self._leases = leases
        self._known = known
        self._complete = complete
        self._seen: set[tuple[str, str]] = set()

    def __call__(self) -> list[GaugeSample]:
        if not self._complete():
            # While leases are restored at start a count would be too low: no series is
            # better than a false one (an alert on a drop would fire at every restart).
            return []
        active: dict[tuple[str, str], int] = {}
        parked: dict[tuple[str, str], int] = {}
        self._seen.update((labels["mount"], labels["role"]) for labels in self._known())
        for lease in self._leases():
            where = (lease.mount, lease.role)
            self._seen.add(where)
            target = parked if lease.state is LeaseState.IRREVOCABLE else active
            target[where] = target.get(where, 0) + 1
        found: list[GaugeSample] = []
        for mount, role in sorted(self._seen):
            labels = {"mount": mount, "role": role}
            found.append(GaugeSample(LEASES_ACTIVE, labels, active.get((mount, role), 0)))
            found.append(GaugeSample(LEASES_IRREVOCABLE, labels, parked.get((mount, role), 0)))
        return found
