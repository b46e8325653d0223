"""Leases: the record, the in-memory table, the journal, restore, revocation, quota, the
manager (issue/renew/revoke), the expiry worker and the lease gauges."""
