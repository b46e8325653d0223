"""A JSON body nested deeper than the documented limit is a 400 at the JSON edge, never a
RecursionError 500 further in (storage encoding, audit hashing, response encoding)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import Api, assert_error_body

MAX_JSON_DEPTH = 100  # the documented limit (docs/api.md)
TOO_DEEP = f"exceeded max depth of {MAX_JSON_DEPTH} nested objects and arrays"


def _lists(depth: int) -> str:
    return "[" * depth + '"x"' + "]" * depth


def _objects(depth: int) -> str:
    return '{"a":' * depth + '"x"' + "}" * depth


@pytest.fixture
def audited(api: Api, tmp_path: Path) -> Api:
    # Audit hashing walks every value of the request: it is one of the deep consumers.
    answer = api.request(
        "PUT",
        "sys/audit/file",
        json={"type": "file", "options": {"file_path": str(tmp_path / "audit.log")}},
    )
    assert answer.status_code == 204, answer.text
    return api


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 500, 950, 100_000])
@pytest.mark.parametrize("shape", [_lists, _objects])
def test_deeply_nested_meta_is_a_400(audited: Api, depth: int, shape) -> None:
    # meta's value sits two levels down: the body is 2 + depth deep.
    body = '{"meta": {"k": ' + shape(depth) + "}}"
    answer = audited.request("POST", "auth/token/create", content=body)
    errors = assert_error_body(answer, 400)
    assert errors == [f"failed to decode JSON input: {TOO_DEEP}; send a flatter JSON object"]


@pytest.mark.parametrize("path", ["auth/token/create", "sys/policies/acl/deep", "sys/leases/renew"])
def test_any_nested_field_over_the_limit_is_a_400(audited: Api, path: str) -> None:
    body = '{"unknown": ' + _lists(MAX_JSON_DEPTH) + "}"  # one level too many
    answer = audited.request("POST", path, content=body)
    assert TOO_DEEP in assert_error_body(answer, 400)[0]


def test_nesting_at_the_limit_passes_the_edge_and_every_consumer(audited: Api) -> None:
    # The whole body is exactly MAX_JSON_DEPTH deep: decoded, audited, ignored with
    # Vault's warning or used, and answered; never a 500.
    body = '{"display_name": "deep", "unknown": ' + _lists(MAX_JSON_DEPTH - 1) + "}"
    answer = audited.request("POST", "auth/token/create", content=body)
    assert answer.status_code == 200, answer.text
    token = answer.json()["auth"]["client_token"]
    looked_up = audited.request("GET", "auth/token/lookup-self", token=token)
    assert looked_up.status_code == 200
