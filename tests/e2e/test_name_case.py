"""Names the server folds to lower case (policies, AppRole roles) cannot get round a rule.

A rule denies `sys/policies/acl/victim`; the policy store lowercases names, so without the
canonical-path check `sys/policies/acl/VICTIM` would rewrite the denied policy.
"""

from __future__ import annotations

from tests.e2e.conftest import Setup

VICTIM = 'path "entra/creds/carol" { capabilities = ["read"] }'


def _token(setup: Setup, policy: str) -> str:
    api = setup.api
    assert api.request("PUT", "sys/policies/acl/case", json={"policy": policy}).status_code == 204
    created = api.request(
        "PUT", "auth/token/create", json={"policies": ["case"], "no_default_policy": True}
    )
    assert created.status_code == 200, created.text
    return str(created.json()["auth"]["client_token"])


def test_a_policy_named_in_another_case_is_checked_under_its_stored_name(setup: Setup) -> None:
    api = setup.api
    assert api.request("PUT", "sys/policies/acl/victim", json={"policy": VICTIM}).status_code == 204
    token = _token(
        setup,
        'path "sys/policies/acl/*" { capabilities = ["create", "read", "update", "delete"] }\n'
        'path "sys/policies/acl/victim" { capabilities = ["deny"] }',
    )
    evil = {"policy": 'path "*" { capabilities = ["sudo", "read"] }'}
    for method, path, body in (
        ("PUT", "sys/policies/acl/VICTIM", evil),
        ("PUT", "sys/policy/Victim", evil),
        ("DELETE", "sys/policies/acl/vIcTiM", None),
        ("GET", "sys/policies/acl/VICTIM", None),
    ):
        answer = api.request(method, path, json=body, token=token)
        assert answer.status_code == 403, f"{method} {path}: {answer.status_code} {answer.text}"
    assert api.request("GET", "sys/policies/acl/victim").json()["data"]["policy"] == VICTIM
    # Names the rules allow still work in any case.
    allowed = api.request("PUT", "sys/policies/acl/Other", json={"policy": VICTIM}, token=token)
    assert allowed.status_code == 204, allowed.text
    assert api.request("GET", "sys/policies/acl/other").status_code == 200


def test_an_approle_role_named_in_another_case_is_checked_under_its_stored_name(
    setup: Setup,
) -> None:
    api = setup.api
    assert api.request("PUT", "sys/auth/approle", json={"type": "approle"}).status_code == 204
    assert api.request("PUT", "auth/approle/role/r1", json={}).status_code == 204
    token = _token(
        setup,
        'path "auth/approle/role/*" { capabilities = ["create", "read", "update"] }\n'
        'path "auth/approle/role/r1/secret-id" { capabilities = ["deny"] }',
    )
    for name in ("R1", "r1"):
        answer = api.request("PUT", f"auth/approle/role/{name}/secret-id", token=token)
        assert answer.status_code == 403, f"{name}: {answer.status_code} {answer.text}"
    listed = api.request("LIST", "auth/approle/role/r1/secret-id")
    assert listed.status_code == 404, listed.text  # no secret id was made
    assert api.request("PUT", "auth/approle/role/r2", json={}, token=token).status_code == 204
    made = api.request("PUT", "auth/approle/role/R2/secret-id", token=token)
    assert made.status_code == 200, made.text
