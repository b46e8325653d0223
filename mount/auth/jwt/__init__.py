"""The JWT/OIDC auth method (Vault's vault-plugin-auth-jwt): sign in with Entra ID.

Enabled as type `oidc` or `jwt` (the same backend); it imports only `mount.sdk` and the
AppRole package's token fields.
"""

from mount.auth.jwt.backend import factory

__all__ = ["factory"]
