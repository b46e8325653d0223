"""The system backend (sys/): mounts, health, leases, policies, audit, auth methods, metrics."""
