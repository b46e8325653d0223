"""AppRole with the real clients an agent fleet uses: the `bao` CLI to set it up and log in,
and `bao agent` with the `approle` auto-auth method rendering an Entra password."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import ALICE, Api, Bao, Setup, Tenant, table
from tests.e2e.test_agent import _run_agent
from tests.e2e.test_cli import api_error, ok
from tests.waiting import wait_until_sync

AGENT_POLICY = 'path "entra/creds/*" { capabilities = ["read"] }'


def test_cli_enables_sets_up_logs_in_and_disables(bao: Bao) -> None:
    assert ok(bao("auth", "enable", "approle")).stdout.startswith(
        "Success! Enabled approle auth method at: approle/"
    )
    api_error(bao("auth", "enable", "approle"), 409, "path is already in use at approle/")
    api_error(
        bao("auth", "enable", "-path=x", "nope"), 400, "plugin not found in the catalog: nope"
    )
    listed = ok(bao("auth", "list")).stdout
    assert "approle/    approle    auth_approle_" in listed and "token/" in listed

    ok(bao("write", "auth/approle/role/agent", "token_policies=entra-read", "token_ttl=1h"))
    assert table(ok(bao("read", "auth/approle/role/agent")).stdout)["token_ttl"] == "1h"
    role_id = ok(bao("read", "-field=role_id", "auth/approle/role/agent/role-id")).stdout.strip()
    issued = json.loads(
        ok(bao("write", "-format=json", "-f", "auth/approle/role/agent/secret-id")).stdout
    )["data"]
    assert ok(bao("list", "auth/approle/role/agent/secret-id")).stdout.split()[2:] == [
        issued["secret_id_accessor"]
    ]
    logged_in = table(
        ok(
            bao(
                "write",
                "auth/approle/login",
                f"role_id={role_id}",
                f"secret_id={issued['secret_id']}",
                token=None,
            )
        ).stdout
    )
    assert logged_in["token_policies"] == '["default" "entra-read"]'
    assert logged_in["token_meta_role_name"] == "agent"
    assert logged_in["token_duration"] == "1h"

    assert ok(bao("auth", "disable", "approle")).stdout.startswith(
        "Success! Disabled the auth method (if it existed) at: approle/"
    )
    assert "approle/" not in ok(bao("auth", "list")).stdout


def _approle_agent_config(address: str, workdir: Path) -> Path:
    config = workdir / "agent.hcl"
    config.write_text(
        f"""
vault {{ address = "{address}" }}
auto_auth {{
  method "approle" {{
    config = {{
      role_id_file_path = "{workdir / "role-id"}"
      secret_id_file_path = "{workdir / "secret-id"}"
      remove_secret_id_file_after_reading = false
    }}
  }}
  sink "file" {{ config = {{ path = "{workdir / "sink"}" }} }}
}}
template {{
  contents = "{{{{ with secret \\"entra/creds/alice\\" }}}}{{{{ .Data.password }}}}{{{{ end }}}}"
  destination = "{workdir / "password.txt"}"
}}
"""
    )
    return config


def test_agent_logs_in_with_approle_and_renders_entra_creds(
    broker: BrokerThread,
    api: Api,
    configured: Setup,
    tenant: Tenant,
    tmp_path: Path,
    running_agent,
) -> None:
    configured.role("alice", ttl="1h")
    # The ACL work (sys/policies/acl) lands separately; once it is merged the approle
    # token needs this policy to read entra/creds, and this write must succeed.
    policy = api.request("PUT", "sys/policies/acl/entra-read", json={"policy": AGENT_POLICY})
    assert policy.status_code in (200, 204) or (
        policy.status_code == 404 and "unsupported path" in policy.text
    ), policy.text
    assert api.request("POST", "sys/auth/approle", json={"type": "approle"}).status_code == 204
    # Short token lifetimes, so the agent must renew and then log in again.
    role = {"token_policies": "entra-read", "token_ttl": "2s", "token_max_ttl": "4s"}
    assert api.request("POST", "auth/approle/role/agent", json=role).status_code == 204
    role_id = api.request("GET", "auth/approle/role/agent/role-id").json()["data"]["role_id"]
    secret_id = api.request("POST", "auth/approle/role/agent/secret-id").json()["data"]["secret_id"]

    workdir = tmp_path / "agent"
    workdir.mkdir()
    (workdir / "role-id").write_text(role_id)
    (workdir / "secret-id").write_text(secret_id)
    running_agent.append(_run_agent(_approle_agent_config(broker.url, workdir), workdir))

    rendered = workdir / "password.txt"
    deadline = time.monotonic() + 20
    while not (rendered.exists() and rendered.read_text()):
        assert time.monotonic() < deadline, (workdir / "agent.log").read_text()
        time.sleep(0.1)
    assert tenant.signs_in(ALICE, rendered.read_text())

    sink = workdir / "sink"
    token = sink.read_text().strip()
    looked_up = api.request("GET", "auth/token/lookup-self", token=token).json()["data"]
    assert looked_up["path"] == "auth/approle/login"
    assert looked_up["meta"] == {"role_name": "agent"}
    assert looked_up["policies"] == ["default", "entra-read"]

    # At token_max_ttl the agent logs in again with the secret id it kept.
    wait_until_sync(lambda: sink.read_text().strip() not in ("", token), timeout=20, interval=0.1)
    fresh = api.request("GET", "auth/token/lookup-self", token=sink.read_text().strip())
    assert fresh.status_code == 200 and fresh.json()["data"]["path"] == "auth/approle/login"
