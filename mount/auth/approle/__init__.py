"""The AppRole auth method (Vault's builtin/credential/approle); it imports only `mount.sdk`."""

from mount.auth.approle.backend import factory

__all__ = ["factory"]
