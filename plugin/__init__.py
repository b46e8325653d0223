"""The Azure Entra ID secrets engine; the mount knows it only through `factory`."""

from plugin.backend import factory

__all__ = ["factory"]
