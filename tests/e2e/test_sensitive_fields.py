"""A sensitive field's value (token, secret id, accessor, client secret) is never echoed:
not by an error body, not in the audit log, whatever its JSON type or shape."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Setup

# Shaped like a time on purpose: such strings were once left in clear by the audit log.
TIME_SHAPED = "2031-05-06T07:08:09Z"
NUMBER = 987654321987


def test_no_error_or_audit_line_repeats_a_sensitive_value(
    configured: Setup, tmp_path: Path
) -> None:
    api = configured.api
    log = tmp_path / "audit.log"
    enabled = api.request(
        "PUT", "sys/audit/file", json={"type": "file", "options": {"file_path": str(log)}}
    )
    assert enabled.status_code == 204, enabled.text
    assert api.request("PUT", "sys/auth/approle", json={"type": "approle"}).status_code == 204
    assert api.request("PUT", "auth/approle/role/r1", json={}).status_code == 204
    calls = [
        ("PUT", "auth/token/lookup", {"token": NUMBER}),
        ("PUT", "auth/token/lookup", {"token": TIME_SHAPED}),
        ("PUT", "auth/token/lookup-accessor", {"accessor": TIME_SHAPED}),
        ("PUT", "sys/capabilities-accessor", {"accessor": TIME_SHAPED, "paths": ["x"]}),
        ("PUT", "auth/approle/role/r1/secret-id-accessor/lookup", {"secret_id_accessor": NUMBER}),
        ("PUT", "auth/approle/login", {"role_id": "nope", "secret_id": TIME_SHAPED}),
        ("PUT", "entra/config", {"client_secret": {"nested": TIME_SHAPED}}),
        ("PUT", "sys/wrapping/lookup", {"token": TIME_SHAPED}),
    ]
    # Refused before routing: a token whose policy denies the path, and a path no
    # mount serves; numbers are no strings, so only the field rule hides them.
    limited = api.request(
        "PUT", "auth/token/create", json={"policies": ["default"], "no_default_policy": False}
    ).json()["auth"]["client_token"]
    for method, path, body in calls:
        answer = api.request(method, path, json=body)
        assert answer.status_code >= 400, f"{path}: {answer.text}"
        assert TIME_SHAPED not in answer.text and str(NUMBER) not in answer.text, answer.text
    refused = [
        ("PUT", "auth/token/lookup", {"token": NUMBER}, limited),
        ("PUT", "auth/nothing-here/login", {"secret_id": NUMBER}, None),
    ]
    for method, path, body, token in refused:
        answer = api.request(method, path, json=body, token=token)
        assert answer.status_code >= 400, f"{path}: {answer.text}"
        assert TIME_SHAPED not in answer.text and str(NUMBER) not in answer.text, answer.text
    text = log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) >= 2 * len(calls) + len(refused)
    audited = {(line["request"]["path"], bool(line.get("error"))) for line in lines}
    assert {(path, True) for _, path, _, _ in refused} <= audited
    assert TIME_SHAPED not in text
    assert str(NUMBER) not in text
    # The values were recorded, hashed: the audit-hash endpoint reproduces the digest.
    digest = api.request("PUT", "sys/audit-hash/file", json={"input": str(NUMBER)})
    assert digest.json()["data"]["hash"] in text
