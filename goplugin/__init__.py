"""Serves a mount.sdk backend inside OpenBao (or Vault) as a native external plugin.

go-plugin's gRPC protocol v5 with AutoMTLS, on grpclib; see docs/openbao.md.
`serve` is imported on first use, so that `entra-broker openbao-plugin install`
(goplugin.install) does not load the gRPC stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from goplugin.server import serve

__all__ = ["serve"]


def __getattr__(name: str) -> Any:
    if name == "serve":
        from goplugin.server import serve

        return serve
    raise AttributeError(name)
