"""The real Vault Agent (`bao agent`) renders an Entra password from the broker and keeps it
fresh across max-TTL rollovers; each superseded password stops working."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.broker_thread import ROOT_TOKEN, BrokerThread
from tests.e2e.conftest import Setup, Tenant, bao_binary, make_client

UPN = "alice@example.test"
TTL, MAX_TTL = 3, 6  # short, so two rollovers take about 15 seconds


def _agent_config(address: str, workdir: Path) -> Path:
    config = workdir / "agent.hcl"
    config.write_text(
        f"""
vault {{ address = "{address}" }}
auto_auth {{
  method {{
    type = "token_file"
    config = {{ token_file_path = "{workdir / "token"}" }}
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


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    workdir = tmp_path / "agent"
    workdir.mkdir()
    return workdir


def _run_agent(config: Path, workdir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(workdir)
    log = (workdir / "agent.log").open("wb")
    try:
        return subprocess.Popen(
            [bao_binary(), "agent", f"-config={config}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    finally:
        log.close()


def _follow_rollovers(rendered: Path, tenant: Tenant, workdir: Path, rollovers: int) -> None:
    """Wait for each new rendered password; it signs in, and the one before it no longer."""
    deadline = time.monotonic() + 20 + rollovers * (MAX_TTL + 10)
    seen: list[str] = []
    while len(seen) < rollovers + 1:
        assert time.monotonic() < deadline, (
            f"agent rendered {len(seen)} passwords; log:\n{(workdir / 'agent.log').read_text()}"
        )
        current = rendered.read_text() if rendered.exists() else ""
        if current and (not seen or current != seen[-1]):
            seen.append(current)
            assert tenant.signs_in(UPN, current), "the rendered password does not sign in"
            if len(seen) > 1:
                # The earlier lease was superseded (rotate mode): its password is dead.
                assert not tenant.signs_in(UPN, seen[-2])
        time.sleep(0.1)
    assert len(set(seen)) == len(seen)


def test_agent_with_root_token_follows_rollovers(
    broker: BrokerThread, configured: Setup, tenant: Tenant, agent_dir: Path, running_agent
) -> None:
    configured.role("alice", ttl=f"{TTL}s", max_ttl=f"{MAX_TTL}s")
    (agent_dir / "token").write_text(ROOT_TOKEN)
    running_agent.append(_run_agent(_agent_config(broker.url, agent_dir), agent_dir))
    _follow_rollovers(agent_dir / "password.txt", tenant, agent_dir, rollovers=2)


def test_agent_with_renewable_child_token(
    broker: BrokerThread, configured: Setup, tenant: Tenant, agent_dir: Path, running_agent
) -> None:
    configured.role("alice", ttl=f"{TTL}s", max_ttl=f"{MAX_TTL}s")
    root = make_client(broker)
    # Only what the agent needs, as in the reference run (lookup-self and renew-self come
    # from the default policy).
    root.sys.create_or_update_acl_policy(
        "agent-app",
        'path "entra/creds/alice" { capabilities = ["read"] }\n'
        'path "sys/leases/renew" { capabilities = ["update"] }\n',
    )
    created = root.auth.token.create(policies=["agent-app"], ttl="8s", renewable=True)
    token = created["auth"]["client_token"]
    (agent_dir / "token").write_text(token)
    running_agent.append(_run_agent(_agent_config(broker.url, agent_dir), agent_dir))
    _follow_rollovers(agent_dir / "password.txt", tenant, agent_dir, rollovers=2)
    # The token outlived its 8 s TTL only because the agent renewed it.
    assert make_client(broker, token).is_authenticated()
