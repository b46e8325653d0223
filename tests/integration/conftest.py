"""Fixtures shared by the integration tests."""

from tests.server_process import servers  # noqa: F401  (a fixture: servers started by a test)
