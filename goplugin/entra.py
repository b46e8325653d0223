"""`python -m goplugin.entra`: the Entra ID engine (plugin/) as an OpenBao plugin."""

from __future__ import annotations

from importlib import metadata

from goplugin.server import serve
from plugin import factory

__all__ = ["REFUSAL", "main", "plugin_version"]

REFUSAL = (
    "This program is the Entra ID secrets engine packaged as an OpenBao (or HashiCorp "
    "Vault) external plugin. It is not run by hand: OpenBao starts it after "
    "`bao plugin register` and `bao secrets enable` (`entra-broker openbao-plugin install "
    "--plugin-dir DIR` writes it and prints both commands). For a stand-alone server run "
    "`entra-broker server` instead."
)


def plugin_version() -> str:
    """The version OpenBao records for the plugin: v + the installed package's."""
    try:
        return "v" + metadata.version("entra-broker")
    except metadata.PackageNotFoundError:
        return ""


def main() -> int:
    return serve(factory, version=plugin_version(), refusal=REFUSAL)


if __name__ == "__main__":
    raise SystemExit(main())
