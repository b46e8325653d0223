"""A misspelt parameter is never dropped in silence: Vault's warning names it, on every path."""

from __future__ import annotations

import hvac

from tests.e2e.conftest import Bao, Setup

IGNORED = "Endpoint ignored these unrecognized parameters: [{}]"


def test_the_cli_shows_the_warning_on_a_write_that_answers_no_content(
    configured: Setup, bao: Bao
) -> None:
    configured.role("alice", ttl="1h")
    run = bao("write", "entra/roles/alice", "user_principle_name=bob@example.test", "ttl=2h")
    assert run.code == 0, run.stderr
    assert IGNORED.format("user_principle_name") in run.flat_stderr
    # The misspelt field changed nothing; the known one was applied.
    role = configured.api.request("GET", "entra/roles/alice").json()["data"]
    assert role["user_principal_name"] == "alice@example.test" and role["ttl"] == 7200


def test_every_kind_of_path_warns(configured: Setup, client: hvac.Client) -> None:
    api = configured.api
    configured.role("alice", ttl="1h")
    cases = [
        ("PUT", "sys/policies/acl/p", {"policy": 'path "x" {capabilities=["read"]}', "polcy": 1}),
        ("PUT", "auth/token/create", {"policies": ["default"], "tll": "1h"}),
        ("PUT", "entra/roles/alice", {"ttl": "1h", "max_tll": "2h"}),
        ("GET", "entra/roles/alice?verbose=1", None),
        ("PUT", "sys/leases/tidy", {"now": True}),
    ]
    for method, path, body in cases:
        answer = api.request(method, path, json=body)
        assert answer.status_code in (200, 202), f"{path}: {answer.status_code} {answer.text}"
        wanted = (set(body or {}) - {"policy", "policies", "ttl"}) or {"verbose"}
        assert IGNORED.format(" ".join(sorted(wanted))) in answer.json()["warnings"], path
    # Several unknown names, sorted and space-separated as Vault's %v prints a list.
    answer = client.write("entra/roles/alice", ttl="1h", b_field=1, a_field=2)
    assert answer["warnings"] == [IGNORED.format("a_field b_field")]
