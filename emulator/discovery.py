"""Discovery: OpenID configuration, the user realm msal asks first, and the signing keys."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from emulator.keys import STATE_KEY, TOKENS_KEY
from emulator.oauth_common import base_url, issuer, unknown_tenant

__all__ = ["openid_configuration", "signing_keys", "user_realm"]

_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})


async def openid_configuration(request: web.Request) -> web.Response:
    """GET /{tenant}/v2.0/.well-known/openid-configuration, as msal reads it."""
    state = request.app[STATE_KEY]
    tenant = request.match_info["tenant"]
    if not state.knows_tenant(tenant):
        return unknown_tenant(request, tenant, "invalid_tenant")
    base, tid = base_url(request), state.tenant_id
    return web.json_response(
        {
            "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": issuer(request, tid),
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "acr",
                "nonce",
                "preferred_username",
                "name",
                "tid",
                "ver",
                "at_hash",
                "c_hash",
                "email",
            ],
            "tenant_region_scope": "WW",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": request.host,
        }
    )


async def user_realm(request: web.Request) -> web.Response:
    """GET /common/userrealm/{username}: every known domain is a managed (cloud) one."""
    state = request.app[STATE_KEY]
    username = request.match_info["username"]
    domain = username.rpartition("@")[2]
    body: dict[str, Any] = {
        "ver": "1.0",
        "account_type": "Managed" if domain and state.knows_tenant(domain) else "Unknown",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_audience_urn": "urn:federation:MicrosoftOnline",
    }
    if body["account_type"] == "Managed":
        body["domain_name"] = domain
    return web.json_response(body)


async def signing_keys(request: web.Request) -> web.Response:
    """GET /{tenant}/discovery/v2.0/keys: the JWKS that verifies this emulator's tokens."""
    tenant = request.match_info["tenant"]
    if tenant.lower() not in _MULTI_TENANT and not request.app[STATE_KEY].knows_tenant(tenant):
        return unknown_tenant(request, tenant, "invalid_tenant")
    return web.json_response(request.app[TOKENS_KEY].jwks())
