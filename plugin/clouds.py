"""National clouds: the login and Graph hosts behind each Vault `environment` name."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "CLOUDS",
    "DEFAULT_CLOUD",
    "Cloud",
    "UnknownEnvironmentError",
    "is_microsoft_login_host",
    "resolve_environment",
]


@dataclass(frozen=True, slots=True)
class Cloud:
    """One Entra deployment: its Vault name, login base URL and Graph base URL."""

    name: str
    authority_host: str
    graph_endpoint: str


class UnknownEnvironmentError(ValueError):
    """The `environment` value names no cloud we know."""


# Names and hosts follow Vault's Azure engine (go-autorest environment names) and
# https://learn.microsoft.com/graph/deployments. China's login host is the one msal
# 1.39 treats as current; login.chinacloudapi.cn is kept below as a known alias.
CLOUDS: dict[str, Cloud] = {
    "AzurePublicCloud": Cloud(
        "AzurePublicCloud", "https://login.microsoftonline.com", "https://graph.microsoft.com"
    ),
    "AzureUSGovernmentCloud": Cloud(
        "AzureUSGovernmentCloud", "https://login.microsoftonline.us", "https://graph.microsoft.us"
    ),
    "AzureChinaCloud": Cloud(
        "AzureChinaCloud",
        "https://login.partner.microsoftonline.cn",
        "https://microsoftgraph.chinacloudapi.cn",
    ),
}
DEFAULT_CLOUD = CLOUDS["AzurePublicCloud"]

_ALIASES = {
    "public": "AzurePublicCloud",
    "azurepubliccloud": "AzurePublicCloud",
    "usgovernment": "AzureUSGovernmentCloud",
    "azureusgovernmentcloud": "AzureUSGovernmentCloud",
    "azureusgovernment": "AzureUSGovernmentCloud",
    "china": "AzureChinaCloud",
    "azurechinacloud": "AzureChinaCloud",
}

# Hosts msal knows without instance discovery; any other login host is a custom one.
_MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login.partner.microsoftonline.cn",
        "login.chinacloudapi.cn",
    }
)


def resolve_environment(value: str) -> Cloud:
    """The cloud for a Vault environment name or short alias, case-insensitive; "" is public."""
    key = value.strip().lower()
    if not key:
        return DEFAULT_CLOUD
    name = _ALIASES.get(key)
    if name is None:
        choices = ", ".join(CLOUDS)
        raise UnknownEnvironmentError(
            f'environment "{value}" is not one of {choices} (or public, usgovernment, china)'
        )
    return CLOUDS[name]


def is_microsoft_login_host(url: str) -> bool:
    """True when `url` points at one of Microsoft's own login hosts."""
    host = (urlsplit(url).hostname or "").lower()
    return host in _MICROSOFT_LOGIN_HOSTS
