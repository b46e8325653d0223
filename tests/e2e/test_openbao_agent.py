"""`bao agent` renders entra/creds/<role> from a real OpenBao running our plugin, and a new
working password at each max-TTL rollover (the one before it dies with the reset)."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.conftest import Tenant
from tests.e2e.test_agent import MAX_TTL, TTL, _agent_config, _follow_rollovers, _run_agent
from tests.e2e.test_openbao_plugin import openbao, tenant_b  # noqa: F401  (fixtures)
from tests.openbao_dev import ROOT_TOKEN, DevServer


def test_agent_renders_and_rolls_over_through_openbao(
    openbao: DevServer,  # noqa: F811
    tenant: Tenant,
    tmp_path: Path,
    running_agent: list,  # type: ignore[type-arg]
) -> None:
    openbao.ok(
        "write",
        "entra/roles/alice",
        "user_principal_name=alice@example.test",
        f"ttl={TTL}s",
        f"max_ttl={MAX_TTL}s",
    )
    workdir = tmp_path / "agent"
    workdir.mkdir()
    (workdir / "token").write_text(ROOT_TOKEN)
    running_agent.append(_run_agent(_agent_config(openbao.url, workdir), workdir))
    _follow_rollovers(workdir / "password.txt", tenant, workdir, rollovers=1)
