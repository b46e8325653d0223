"""The type of a backend factory: what a host calls to build one mount's backend."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

from mount.sdk.framework import Backend
from mount.sdk.logical import BackendConfig

__all__ = ["BackendFactory"]


class BackendFactory(Protocol):
    """Builds the backend of one mount from what the host gives it (`BackendConfig`).

    Called once per mount, at enable time or when the mount table is restored; the
    backend's own metric series are declared then, to `conf.metrics`. A secrets engine
    and an auth method export one as `factory` (Vault's `logical.Factory`).
    """

    def __call__(self, conf: BackendConfig, /) -> Awaitable[Backend]: ...
