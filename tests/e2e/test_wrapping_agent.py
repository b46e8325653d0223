"""`bao agent`'s AppRole auto-auth with a wrapped secret id
(`secret_id_response_wrapping_path`): it looks the wrapping token up, checks its creation
path, unwraps it and logs in; a token wrapped at another path is refused."""

from __future__ import annotations

import time
from pathlib import Path

from tests.broker_thread import BrokerThread
from tests.e2e.conftest import Api
from tests.e2e.test_agent import _run_agent

ROLE = "auth/approle/role/agent"


def _config(address: str, workdir: Path, wrapping_path: str) -> Path:
    config = workdir / "agent.hcl"
    config.write_text(
        f"""
vault {{ address = "{address}" }}
auto_auth {{
  method "approle" {{
    config = {{
      role_id_file_path = "{workdir / "role-id"}"
      secret_id_file_path = "{workdir / "secret-id"}"
      secret_id_response_wrapping_path = "{wrapping_path}"
    }}
  }}
  sink "file" {{ config = {{ path = "{workdir / "sink"}" }} }}
}}
"""
    )
    return config


def _set_up(api: Api, workdir: Path) -> str:
    """An AppRole role; its role id in the agent's file; the wrapped secret id's token."""
    assert api.request("POST", "sys/auth/approle", json={"type": "approle"}).status_code == 204
    role = {"token_policies": "default", "token_ttl": "1h"}
    assert api.request("POST", ROLE, json=role).status_code == 204
    role_id = api.request("GET", f"{ROLE}/role-id").json()["data"]["role_id"]
    workdir.mkdir()
    (workdir / "role-id").write_text(role_id)
    wrapped = api.request("POST", f"{ROLE}/secret-id", headers={"X-Vault-Wrap-TTL": "5m"})
    assert wrapped.status_code == 200, wrapped.text
    token: str = wrapped.json()["wrap_info"]["token"]
    (workdir / "secret-id").write_text(token)
    return token


def test_agent_unwraps_a_wrapped_secret_id_and_logs_in(
    broker: BrokerThread, api: Api, tmp_path: Path, running_agent
) -> None:
    workdir = tmp_path / "agent"
    token = _set_up(api, workdir)
    config = _config(broker.url, workdir, f"{ROLE}/secret-id")
    running_agent.append(_run_agent(config, workdir))

    sink = workdir / "sink"
    deadline = time.monotonic() + 20
    while not (sink.exists() and sink.read_text().strip()):
        assert time.monotonic() < deadline, (workdir / "agent.log").read_text()
        time.sleep(0.1)
    looked_up = api.request("GET", "auth/token/lookup-self", token=sink.read_text().strip())
    assert looked_up.status_code == 200
    assert looked_up.json()["data"]["path"] == "auth/approle/login"
    # The wrapping token was spent by the agent's unwrap.
    spent = api.request("POST", "sys/wrapping/lookup", token=None, json={"token": token})
    assert spent.status_code == 400


def test_agent_refuses_a_wrapping_token_from_another_path(
    broker: BrokerThread, api: Api, tmp_path: Path, running_agent
) -> None:
    workdir = tmp_path / "agent"
    token = _set_up(api, workdir)
    config = _config(broker.url, workdir, "auth/approle/role/other/secret-id")
    running_agent.append(_run_agent(config, workdir))

    log = workdir / "agent.log"
    deadline = time.monotonic() + 20
    while "unable to validate wrapping token creation path" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    assert not (workdir / "sink").exists() or not (workdir / "sink").read_text().strip()
    # Refused before unwrapping: the wrapped secret id is still there, unspent.
    looked = api.request("POST", "sys/wrapping/lookup", token=None, json={"token": token})
    assert looked.status_code == 200
