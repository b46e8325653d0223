"""The physical storage under every view, on the contract in mount.sdk.storage.

open.py picks a store from the config: tinydb.py (one TinyDB document), log.py (an
append-only log, its lines in log_format.py) or split.py (the default: both, by key
prefix). files.py holds what the file stores share on disk, group_commit.py how their
writes are batched, barrier.py the sealing, views.py the prefix views, memory.py the
in-memory store for tests.
"""
