"""National clouds (plugin/clouds.py)."""

from __future__ import annotations

import pytest

from plugin.clouds import (
    CLOUDS,
    DEFAULT_CLOUD,
    UnknownEnvironmentError,
    is_microsoft_login_host,
    resolve_environment,
)


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("AzurePublicCloud", "AzurePublicCloud"),
        ("azurepubliccloud", "AzurePublicCloud"),
        ("public", "AzurePublicCloud"),
        ("", "AzurePublicCloud"),
        ("AZUREUSGOVERNMENTCLOUD", "AzureUSGovernmentCloud"),
        ("usgovernment", "AzureUSGovernmentCloud"),
        ("AzureChinaCloud", "AzureChinaCloud"),
        (" China ", "AzureChinaCloud"),
    ],
)
def test_vault_names_and_short_names_any_case(given, name):
    assert resolve_environment(given).name == name


def test_unknown_environment_names_the_choices():
    with pytest.raises(UnknownEnvironmentError) as caught:
        resolve_environment("AzureGermanCloud")
    message = str(caught.value)
    assert '"AzureGermanCloud"' in message
    for name in CLOUDS:
        assert name in message


def test_hosts_per_cloud():
    assert DEFAULT_CLOUD.authority_host == "https://login.microsoftonline.com"
    assert DEFAULT_CLOUD.graph_endpoint == "https://graph.microsoft.com"
    gov = CLOUDS["AzureUSGovernmentCloud"]
    assert (gov.authority_host, gov.graph_endpoint) == (
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
    )
    china = CLOUDS["AzureChinaCloud"]
    assert china.graph_endpoint == "https://microsoftgraph.chinacloudapi.cn"
    for cloud in CLOUDS.values():
        assert cloud.authority_host.startswith("https://")
        assert not cloud.graph_endpoint.endswith("/")
        assert is_microsoft_login_host(cloud.authority_host)


def test_custom_hosts_are_not_microsoft_hosts():
    assert not is_microsoft_login_host("https://127.0.0.1:8443")
    assert not is_microsoft_login_host("https://login.microsoftonline.com.evil.test")
    assert is_microsoft_login_host("https://LOGIN.microsoftonline.com/")
