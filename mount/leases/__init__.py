"""leases layer."""
