"""Tests of mount/sdk/."""
