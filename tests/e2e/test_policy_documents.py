"""Policy documents the way real clients write and read them (hvac, the `bao` CLI).

Found by hvac's and node-vault's test suites: a policy with a non-ASCII character was a
500, a JSON policy (hvac's dict, Terraform's `jsonencode`) was refused, and reading a
missing policy answered 204 instead of Vault's 404 `{"errors":[]}`.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import ALICE, Api, Bao, Setup, Tenant, make_client
from tests.e2e.test_policies_cli import denied, new_token, ok

NON_ASCII = """\
# owner: José (équipe Zoë) — issue and renew alice’s password ✓
path "entra/creds/alice" {
  capabilities = ["read"]
}
"""
# hvac json-encodes a dict policy (indented, keys sorted); the map form of HCL's JSON.
MAP_FORM = {"path": {"entra/creds/*": {"capabilities": ["read"]}}}
# The list form, as Terraform's jsonencode of a list of path objects gives it.
LIST_FORM = {
    "path": [
        {"entra/creds/*": {"capabilities": ["read"]}},
        {"entra/creds/bob": {"capabilities": ["deny"]}},
    ]
}


def served(api: Api, name: str) -> tuple[str, str]:
    """The policy text as both read paths serve it."""
    current = api.request("GET", f"sys/policies/acl/{name}")
    legacy = api.request("GET", f"sys/policy/{name}")
    assert current.status_code == legacy.status_code == 200, (current.text, legacy.text)
    return current.json()["data"]["policy"], legacy.json()["rules"]


def test_a_non_ascii_policy_is_stored_and_served_back_exactly(
    api: Api, bao: Bao, client: hvac.Client, tmp_path: Path
) -> None:
    # The CLI, from a UTF-8 file.
    (tmp_path / "app.hcl").write_text(NON_ASCII, encoding="utf-8")
    assert ok(bao("policy", "write", "app", str(tmp_path / "app.hcl"))).stdout == (
        "Success! Uploaded policy: app\n"
    )
    assert ok(bao("policy", "read", "app")).stdout == NON_ASCII
    assert served(api, "app") == (NON_ASCII, NON_ASCII)

    # hvac, on the current and the legacy path.
    client.sys.create_or_update_acl_policy("hvac-app", NON_ASCII)
    assert client.sys.read_acl_policy("hvac-app")["data"]["policy"] == NON_ASCII
    client.sys.create_or_update_policy("hvac-legacy", NON_ASCII)
    assert client.sys.read_policy("hvac-legacy")["rules"] == NON_ASCII
    assert served(api, "hvac-legacy") == (NON_ASCII, NON_ASCII)

    # Base64 of the UTF-8 text is decoded, as Vault does.
    encoded = base64.b64encode(NON_ASCII.encode()).decode()
    written = api.request("PUT", "sys/policies/acl/b64", json={"policy": encoded})
    assert written.status_code == 204, written.text
    assert served(api, "b64") == (NON_ASCII, NON_ASCII)

    # And it is enforced like any other policy.
    token = new_token(bao, "-policy=app", "-ttl=5m")["client_token"]
    assert ok(bao("token", "capabilities", "entra/creds/alice", token=token)).stdout == "read\n"
    assert ok(bao("token", "capabilities", "entra/creds/bob", token=token)).stdout == "deny\n"


def test_json_policies_from_hvac_and_the_cli_are_stored_and_enforced(
    broker: BrokerThread,
    bao: Bao,
    client: hvac.Client,
    configured: Setup,
    tenant: Tenant,
    tmp_path: Path,
) -> None:
    configured.role("alice", ttl="10m")
    configured.role("bob", ttl="10m")

    client.sys.create_or_update_acl_policy("from-hvac", MAP_FORM)  # hvac json-encodes it
    text = client.sys.read_acl_policy("from-hvac")["data"]["policy"]
    assert json.loads(text) == MAP_FORM  # kept as sent
    (tmp_path / "list.json").write_text(json.dumps(LIST_FORM), encoding="utf-8")
    ok(bao("policy", "write", "from-cli", str(tmp_path / "list.json")))
    assert ok(bao("policy", "read", "from-cli")).stdout.strip() == json.dumps(LIST_FORM)

    wide = new_token(bao, "-policy=from-hvac", "-ttl=5m")["client_token"]
    narrow = new_token(bao, "-policy=from-cli", "-ttl=5m")["client_token"]
    for token in (wide, narrow):
        secret = make_client(broker, token).read("entra/creds/alice")
        assert tenant.signs_in(ALICE, secret["data"]["password"])
    assert ok(bao("read", "-field=user_principal_name", "entra/creds/bob", token=wide)).stdout
    denied(bao("read", "entra/creds/bob", token=narrow))
    denied(bao("read", "entra/config", token=wide))


@pytest.mark.parametrize(
    ("policy", "sentence"),
    [
        ({"path": {"entra/*/x": {"capabilities": ["reed"]}}}, 'invalid capability "reed"'),
        ({"path": {"entra/*/x": {"capabilities": ["read"]}}}, '"*" may only end a path'),
        ({"paths": {"a": {"capabilities": ["read"]}}}, 'unknown key "paths"'),
        ({"path": {"a": {"policy": ["read"]}}}, 'path "a": invalid policy (not a string)'),
        ('{"path": {"a": {"capabilities": ["read"]}', 'JSON syntax error in policy "bad"'),
    ],
    ids=["capability", "wildcard", "key", "shorthand", "syntax"],
)
def test_a_bad_json_policy_is_a_400_with_the_hcl_sentence(
    api: Api, client: hvac.Client, policy: dict | str, sentence: str
) -> None:
    with pytest.raises(hvac.exceptions.InvalidRequest) as caught:
        client.sys.create_or_update_acl_policy("bad", policy)
    assert any(sentence in e for e in caught.value.errors), caught.value.errors
    assert all(e.startswith("failed to parse policy: ") for e in caught.value.errors)
    assert api.request("GET", "sys/policies/acl/bad").status_code == 404  # nothing stored


def test_reading_a_missing_policy_is_vaults_404(api: Api, bao: Bao, client: hvac.Client) -> None:
    for path in ("sys/policies/acl/nosuch", "sys/policy/nosuch"):
        response = api.request("GET", path)
        assert response.status_code == 404, (path, response.status_code, response.text)
        assert response.json() == {"errors": []}
        assert response.headers["Content-Type"] == "application/json"
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.read_acl_policy("nosuch")
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.sys.read_policy("nosuch")
    missing = bao("policy", "read", "nosuch")
    assert missing.code == 2 and "No policy named: nosuch" in missing.stderr, missing
    # A deleted policy reads the same way.
    client.sys.create_or_update_acl_policy("gone", 'path "x" { capabilities = ["read"] }')
    client.sys.delete_acl_policy("gone")
    gone = api.request("GET", "sys/policies/acl/gone")
    assert gone.status_code == 404 and gone.json() == {"errors": []}
