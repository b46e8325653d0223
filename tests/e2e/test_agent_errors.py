"""Vault Agent against a role that does not exist, and across a broker restart."""

from __future__ import annotations

import time
from pathlib import Path

from tests.broker_thread import ROOT_TOKEN, BrokerThread
from tests.e2e.conftest import Setup, Tenant
from tests.e2e.test_agent import UPN, _agent_config, _run_agent
from tests.waiting import wait_until_sync


def _workdir(tmp_path: Path) -> Path:
    workdir = tmp_path / "agent"
    workdir.mkdir()
    (workdir / "token").write_text(ROOT_TOKEN)
    return workdir


def test_unknown_role_gives_the_agents_error_and_retries(
    broker: BrokerThread, configured: Setup, tenant: Tenant, tmp_path: Path, running_agent
) -> None:
    workdir = _workdir(tmp_path)
    config = _agent_config(broker.url, workdir)
    config.write_text(config.read_text().replace("entra/creds/alice", "entra/creds/nope"))
    agent = _run_agent(config, workdir)
    running_agent.append(agent)
    log = workdir / "agent.log"
    wait_until_sync(lambda: log.read_text().count("unknown role: nope") >= 2, timeout=30)
    assert agent.poll() is None, "the agent must keep retrying, not exit or hang silently"
    assert not (workdir / "password.txt").exists()
    # Once the role exists, the agent's next retry renders a working password.
    configured.role("nope", user_principal_name=UPN, ttl="1h")
    rendered = workdir / "password.txt"
    wait_until_sync(lambda: rendered.exists() and rendered.read_text() != "", timeout=60)
    assert tenant.signs_in(UPN, rendered.read_text())


def test_agent_recovers_after_the_broker_was_down(
    broker: BrokerThread, configured: Setup, tenant: Tenant, tmp_path: Path, running_agent
) -> None:
    configured.role("alice", ttl="4s", max_ttl="10s")
    workdir = _workdir(tmp_path)
    agent = _run_agent(_agent_config(broker.url, workdir), workdir)
    running_agent.append(agent)
    rendered = workdir / "password.txt"
    wait_until_sync(lambda: rendered.exists() and rendered.read_text() != "", timeout=20)
    before = rendered.read_text()
    broker.stop()
    down_until = time.monotonic() + 3
    wait_until_sync(lambda: time.monotonic() > down_until, timeout=10)
    broker.start()
    # The agent keeps going: after the outage it renders a new password that signs in.
    wait_until_sync(lambda: rendered.read_text() not in ("", before), timeout=60, interval=0.2)
    assert tenant.signs_in(UPN, rendered.read_text())
    assert agent.poll() is None
