"""Tests of mount/storage/."""
