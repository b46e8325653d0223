"""The two file store kinds, for tests that hold for both."""

import pytest

from mount.storage.open import open_store

STORE_KINDS = pytest.mark.parametrize("kind", ["tinydb", "log"])


def open_kind(kind, path, barrier=None):
    return open_store(kind, path, barrier)
