"""Audit hashing and entry formatting: Vault's HMAC, Vault's shapes, nothing in clear."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from mount.audit.device import FileOptions
from mount.audit.entries import (
    AuditAuth,
    AuditEvent,
    AuditRequest,
    AuditResponse,
    FormatOptions,
    format_event,
)
from mount.audit.hashing import AuditHasher, new_hmac_key
from mount.sdk.errors import InvalidRequestError

KEY = base64.b64encode(bytes(range(32))).decode()
TOKEN = "s.Zq3VtA9kPq2LmN4oR6sT8uWx"
ACCESSOR = "Qw3Er5Ty7Ui9Op1As3Df5Gh7"
PASSWORD = "Pw~9f!kS2#vQ"


def reference_hmac(value: str) -> str:
    """Vault's salt.GetIdentifiedHMAC: hex HMAC-SHA256 under the key, with its type prefix."""
    digest = hmac.new(bytes(range(32)), value.encode(), hashlib.sha256).hexdigest()
    return f"hmac-sha256:{digest}"


def test_hash_is_vaults_identified_hmac_and_keys_differ():
    hasher = AuditHasher(KEY)
    assert hasher.hash(TOKEN) == reference_hmac(TOKEN)
    other = AuditHasher(new_hmac_key())
    assert other.hash(TOKEN) != hasher.hash(TOKEN)
    assert KEY not in repr(hasher)


def test_hash_structure_hashes_every_string_value_times_included_but_not_keys_or_numbers():
    hasher = AuditHasher(KEY)
    data = {
        "password": PASSWORD,
        "nested": {"list": ["a", 1, True, None], "deep": {"secret": "x"}},
        "ttl": 30,
        # A secret may be shaped like a time: times are hashed like any other string.
        "expire_time": "2026-11-27T00:43:57.101234567Z",
    }
    hashed = hasher.hash_structure(data)
    assert hashed == {
        "password": reference_hmac(PASSWORD),
        "nested": {
            "list": [reference_hmac("a"), 1, True, None],
            "deep": {"secret": reference_hmac("x")},
        },
        "ttl": 30,
        "expire_time": reference_hmac("2026-11-27T00:43:57.101234567Z"),
    }
    assert data["password"] == PASSWORD, "the input is left untouched"


def test_hash_structure_hashes_sensitive_fields_whatever_their_type():
    hasher = AuditHasher(KEY)
    data = {"token": 123456789, "secret_id": ["s1", 2], "other": 7, "accessor": None}
    hashed = hasher.hash_structure(data, {"token", "secret_id", "accessor"})
    assert hashed == {
        "token": reference_hmac("123456789"),
        "secret_id": reference_hmac('["s1",2]'),
        "other": 7,
        "accessor": None,
    }
    assert data["token"] == 123456789


def test_hash_structure_survives_nesting_deeper_than_the_recursion_limit():
    value: object = "leaf"
    for _ in range(5000):
        value = {"a": [value]}
    hashed = AuditHasher(KEY).hash_structure(value)
    for _ in range(5000):
        hashed = hashed["a"][0]
    assert hashed == reference_hmac("leaf")


def event(kind: str = "request", **response: object) -> AuditEvent:
    auth = AuditAuth(
        client_token=TOKEN,
        accessor=ACCESSOR,
        display_name="root",
        policies=("root",),
        token_type="service",
        token_issue_time="2026-11-27T00:00:00Z",
    )
    request = AuditRequest(
        id="6f1c0d52-0000-4000-8000-000000000001",
        operation="update",
        path="entra/config",
        data={"client_secret": PASSWORD, "tenant_id": "t"},
        client_token=TOKEN,
        client_token_accessor=ACCESSOR,
        mount_point="entra/",
        mount_type="entra",
        mount_accessor="entra_1a2b3c4d",
        mount_class="secret",
        remote_address="127.0.0.1",
    )
    answer = AuditResponse(**response) if kind == "response" else None  # type: ignore[arg-type]
    return AuditEvent(kind, "2026-11-27T00:00:01.000000Z", auth, request, answer)  # type: ignore[arg-type]


def test_request_line_has_vaults_shape_and_no_secret_in_clear():
    line = format_event(event(), AuditHasher(KEY), FormatOptions())
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    entry = json.loads(line)
    assert list(entry) == ["time", "type", "auth", "request"]
    assert entry["type"] == "request"
    assert entry["auth"] == {
        "client_token": reference_hmac(TOKEN),
        "accessor": reference_hmac(ACCESSOR),
        "display_name": "root",
        "policies": ["root"],
        "token_policies": ["root"],
        "token_type": "service",
        "token_issue_time": "2026-11-27T00:00:00Z",
    }
    request = entry["request"]
    assert request["client_token"] == reference_hmac(TOKEN)
    assert request["client_token_accessor"] == reference_hmac(ACCESSOR)
    assert request["data"] == {
        "client_secret": reference_hmac(PASSWORD),
        "tenant_id": reference_hmac("t"),
    }
    assert request["namespace"] == {"id": "root"}
    assert request["path"] == "entra/config" and request["mount_type"] == "entra"
    for secret in (TOKEN, ACCESSOR, PASSWORD):
        assert secret.encode() not in line


def test_response_line_hashes_data_and_issued_token_but_not_the_lease_id():
    issued = "s.Nn8Bb7Vv6Cc5Xx4Zz3Ll2Kk1"
    line = format_event(
        event(
            "response",
            data={"password": PASSWORD, "ttl": 5},
            lease_id="entra/creds/alice/AbCdEfGhIjKlMnOpQrStUvWx",
            auth={"client_token": issued, "accessor": "Acc3ss0r", "lease_duration": 60},
            warnings=("capped",),
        ),
        AuditHasher(KEY),
        FormatOptions(),
    )
    entry = json.loads(line)
    assert list(entry) == ["time", "type", "auth", "request", "response"]
    response = entry["response"]
    assert response["data"] == {"password": reference_hmac(PASSWORD), "ttl": 5}
    assert response["secret"] == {"lease_id": "entra/creds/alice/AbCdEfGhIjKlMnOpQrStUvWx"}
    assert response["auth"]["client_token"] == reference_hmac(issued)
    assert response["auth"]["accessor"] == reference_hmac("Acc3ss0r")
    assert response["auth"]["token_ttl"] == 60
    assert response["warnings"] == ["capped"]
    assert response["mount_type"] == "entra"
    for secret in (issued, "Acc3ss0r", PASSWORD):
        assert secret.encode() not in line


def test_error_and_options_hmac_accessor_elide_and_prefix():
    failed = AuditEvent(
        "response",
        "2026-11-27T00:00:01Z",
        AuditAuth(accessor=ACCESSOR),
        AuditRequest(id="r", operation="list", path="sys/leases/lookup/x/"),
        AuditResponse(data={"keys": ["a", "b", "c"]}),
        error="unknown role: nope",
    )
    options = FormatOptions(hmac_accessor=False, elide_list_responses=True, prefix="AUDIT: ")
    line = format_event(failed, AuditHasher(KEY), options)
    assert line.startswith(b"AUDIT: {")
    entry = json.loads(line.removeprefix(b"AUDIT: "))
    assert entry["error"] == "unknown role: nope"
    assert entry["auth"]["accessor"] == ACCESSOR
    assert entry["response"]["data"] == {"keys": 3}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "file_path is required"),
        ({"file_path": "relative.log"}, 'file_path "relative.log" must be an absolute path'),
        ({"file_path": "/x", "log_raw": "true"}, "log_raw is not supported"),
        ({"file_path": "/x", "format": "jsonx"}, 'unknown format type "jsonx"; use json'),
        ({"file_path": "/x", "mode": "rw"}, 'option mode: "rw" is not an octal file mode'),
        ({"file_path": "/x", "hmac_accessor": "maybe"}, 'option hmac_accessor: "maybe"'),
        ({"file_path": "/x", "prefix": "P"}, "prefix can only be set on an audit device"),
        ({"file_path": "/x", "filepath": "/y"}, "unknown option(s) filepath"),
    ],
)
def test_bad_file_options_are_refused_with_a_sentence(options, message):
    with pytest.raises(InvalidRequestError) as caught:
        FileOptions.parse(options)
    assert any(e.startswith(message) for e in caught.value.errors), caught.value.errors


def test_file_options_defaults_and_executable_bits_dropped():
    assert FileOptions.parse({"file_path": "/var/log/a.log"}) == FileOptions("/var/log/a.log")
    assert FileOptions.parse({"file_path": "STDOUT"}).file_path == "stdout"
    assert FileOptions.parse({"file_path": "/a", "mode": "0755"}).mode == 0o644
    assert FileOptions.parse({"path": "/a", "log_raw": "false"}).file_path == "/a"
    assert FileOptions.parse({"file_path": "/a", "prefix": "P"}, from_config=True).prefix == "P"
