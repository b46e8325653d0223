"""OpenBao's messages to mount.sdk and back: operations, data, secrets, TTLs, errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from goplugin import requests, responses
from goplugin.proto import backend_pb2
from mount.sdk import (
    InvalidRequestError,
    NotFoundError,
    Operation,
    PermissionDeniedError,
    Response,
    SecretSpec,
    SecretTTL,
    UnsupportedOperationError,
    UnsupportedPathError,
    UpstreamError,
)
from mount.sdk.testing import MemoryStorage

NS = 1_000_000_000


def test_a_request_keeps_operation_path_data_mount_and_caller() -> None:
    pb = backend_pb2.Request(
        operation="update",
        path="roles/alice",
        data=json.dumps({"ttl": "1h"}),
        mount_point="entra-b/",
        display_name="token-ci",
        client_token="s.never-seen",
    )
    pb.connection.remote_addr = "10.1.2.3"
    storage = MemoryStorage()
    request = requests.to_sdk_request(pb, storage)
    assert request.operation is Operation.UPDATE and request.path == "roles/alice"
    assert dict(request.data) == {"ttl": "1h"} and request.mount_point == "entra-b/"
    assert request.identity == "token-ci" and request.remote_address == "10.1.2.3"
    assert request.storage is storage
    assert "s.never-seen" not in repr(request)


@pytest.mark.parametrize("text", ["", "null", "{}"])
def test_empty_data_in_every_form_is_empty(text: str) -> None:
    assert requests.decode_object(text, "data") == {}


def test_data_that_is_not_an_object_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="not a JSON object"):
        requests.decode_object("[1]", "the request data")


def test_a_secret_carries_its_type_in_the_internal_data_and_back() -> None:
    spec = SecretSpec(
        type="entra_password",
        internal={"role": "alice"},
        ttl=timedelta(minutes=5),
        max_ttl=timedelta(hours=1),
    )
    issued = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    answer = responses.secret_response(spec, {"role": "alice"}, {"password": "pw"}, ["w"], issued)
    options = answer.secret.lease_options
    assert options.TTL == 300 * NS and options.MaxTTL == 3600 * NS and options.renewable
    assert options.issue_time.ToDatetime(tzinfo=UTC) == issued  # OpenBao requires it
    assert json.loads(answer.data) == {"password": "pw"} and list(answer.warnings) == ["w"]
    # OpenBao hands the internal data back on renew and revoke.
    again = backend_pb2.Request(operation="revoke", path="creds/alice")
    again.secret.CopyFrom(answer.secret)
    assert requests.secret_of(again) == ("entra_password", {"role": "alice"})


def test_a_secret_without_its_type_is_refused() -> None:
    pb = backend_pb2.Request(operation="revoke")
    pb.secret.internal_data = json.dumps({"role": "alice"})
    with pytest.raises(InvalidRequestError, match="secret_type"):
        requests.secret_of(pb)


def test_a_renewal_keeps_the_issue_time_and_sets_the_allowed_ttls() -> None:
    secret = backend_pb2.Secret(internal_data="{}")
    secret.lease_options.TTL = 60 * NS
    secret.lease_options.issue_time.FromDatetime(datetime(2026, 1, 1, tzinfo=UTC))
    renewed = responses.renewed_secret(secret, SecretTTL(timedelta(minutes=2), timedelta(hours=2)))
    options = renewed.secret.lease_options
    assert options.TTL == 120 * NS and options.MaxTTL == 7200 * NS
    assert options.issue_time.ToDatetime(tzinfo=UTC) == datetime(2026, 1, 1, tzinfo=UTC)
    kept = responses.renewed_secret(secret, None)
    assert kept.secret.lease_options.TTL == 60 * NS


def test_plain_answers() -> None:
    assert responses.plain_response(None) is None
    assert responses.plain_response(Response()) is None
    assert json.loads(responses.plain_response(Response(data={"a": 1})).data) == {"a": 1}
    helped = responses.plain_response(Response(data={"help": "text"}))
    assert json.loads(helped.data) == {"help": "text"}
    warned = responses.plain_response(Response(warnings=["careful"]))
    assert warned.data == "null" and list(warned.warnings) == ["careful"]


def test_errors_keep_their_status_and_sentence() -> None:
    assert responses.error_of(UnsupportedPathError()).err_type == responses.ERR_UNSUPPORTED_PATH
    assert (
        responses.error_of(UnsupportedOperationError()).err_type
        == responses.ERR_UNSUPPORTED_OPERATION
    )
    assert responses.error_of(PermissionDeniedError()).err_type == responses.ERR_PERMISSION_DENIED
    upstream = responses.error_of(UpstreamError("Graph answered 503"))
    assert (upstream.err_type, upstream.err_code) == (responses.ERR_CODED, 502)
    assert upstream.err_msg == "Graph answered 503"
    gone = responses.error_of(NotFoundError("no such user"))
    assert gone.err_code == 404


def test_a_400_is_an_error_response_as_openbaos_engines_give() -> None:
    answer = responses.user_error_response(InvalidRequestError("unknown role: x"))
    assert answer is not None and json.loads(answer.data) == {"error": "unknown role: x"}
    assert responses.user_error_response(UpstreamError("down")) is None


def test_an_internal_error_says_nothing_of_its_cause() -> None:
    error = responses.internal_error("serving read")
    assert error.err_code == 500 and "server log" in error.err_msg
