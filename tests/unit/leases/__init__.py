"""Unit tests of the lease layer (mount/leases/), driven by a fake clock."""
