"""Fixtures the storage tests share."""

import os

import pytest


@pytest.fixture
def key():
    return os.urandom(32)
