"""mount/ids.py: times formatted with their whole seconds cached (the text must not
change), and request ids that are random version-4 UUIDs."""

from __future__ import annotations

import random
import time
import uuid

from mount.ids import new_request_id, rfc3339
from mount.leases.record import Lease


def _uncached(epoch: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int((epoch % 1) * 1_000_000):06d}Z"


def test_rfc3339_matches_strftime_for_every_kind_of_epoch() -> None:
    rng = random.Random(6)
    epochs = [0.0, 1.0, 0.999999, 1.5, 1_700_000_000.0, 1_700_000_000.000001, 4e9 + 0.25]
    epochs += [rng.uniform(0, 4e9) for _ in range(2000)]
    for epoch in epochs + epochs:  # the second pass reads the cache
        assert rfc3339(epoch) == _uncached(epoch)


def test_lookup_data_times() -> None:
    lease = Lease.from_storage(
        {
            "lease_id": "entra/creds/r/abc",
            "mount": "entra/",
            "secret_type": "user",
            "internal": {},
            "ttl": 3600,
            "max_ttl": 7200,
            "issue_time": 1_700_000_000.25,
            "expire_time": 1_700_003_600.5,
            "last_renewal": 1_700_001_000.75,
            "renewable": True,
        }
    )
    data = lease.lookup_data(1_700_000_100.0)
    assert data["issue_time"] == "2023-11-14T22:13:20.250000Z"
    assert data["expire_time"] == "2023-11-14T23:13:20.500000Z"
    assert data["last_renewal"] == "2023-11-14T22:30:00.750000Z"
    assert data["ttl"] == 3500


def test_request_ids_are_uuid4_text() -> None:
    ids = [new_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
