"""The stored form of a lease (mount/leases/record.py Lease.to_storage / from_storage)."""

import dataclasses
import json

from mount.leases.record import Lease, LeaseState


def _lease(**changes):
    lease = Lease(
        lease_id="entra/creds/alice/abc",
        mount="entra/",
        secret_type="entra_password",
        internal={"object_id": "oid", "user_principal_name": "alice@example.test"},
        issue_time=1.5,
        expire_time=61.5,
        ttl=60,
        max_ttl=3600,
        renewable=True,
        state=LeaseState.IRREVOCABLE,
        last_renewal=30.25,
        holder_key="entra/user/oid",
        token_accessor="acc",
        revoke_attempts=3,
        revoke_error="Graph said no",
        revoke_at=90.0,
    )
    return dataclasses.replace(lease, **changes)


def test_every_field_is_stored_and_read_back():
    lease = _lease()
    stored = lease.to_storage()
    # A field added to Lease but not to to_storage would be lost at the next restart.
    assert set(stored) == {field.name for field in dataclasses.fields(Lease)}
    assert stored["state"] == "irrevocable"
    assert Lease.from_storage(json.loads(json.dumps(stored))) == lease


def test_the_stored_internal_data_is_a_copy():
    lease = _lease()
    stored = lease.to_storage()
    stored["internal"]["object_id"] = "changed"
    assert lease.internal["object_id"] == "oid"
