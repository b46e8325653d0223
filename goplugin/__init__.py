"""Serves a mount.sdk backend inside OpenBao (or Vault) as a native external plugin.

go-plugin's gRPC protocol v5 with AutoMTLS, on grpclib; see docs/openbao.md.
"""

from goplugin.server import serve

__all__ = ["serve"]
