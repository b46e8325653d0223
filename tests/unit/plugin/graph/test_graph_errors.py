"""Graph error mapping and retry decisions (plugin/graph/), over httpx.MockTransport.

The flows themselves run against the emulator in tests/integration; here only what an
emulator cannot easily produce: malformed answers and exactly classified failures.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from mount.sdk import UpstreamError
from plugin.graph import GraphClient, GraphError

OBJECT_ID = "0b5f7c1e-1111-4222-8333-944445555666"
PASSWORD = "Sup3r-Secret.Pa55word~for~tests"


class Tokens:
    """A fixed token; counts refreshes."""

    def __init__(self) -> None:
        self.invalidated = 0

    async def token(self) -> str:
        return f"token-{self.invalidated}"

    async def invalidate(self) -> None:
        self.invalidated += 1


def _client(handler, *, deadline=5.0, tokens=None):
    return GraphClient(
        "https://graph.test",
        tokens or Tokens(),
        transport=httpx.MockTransport(handler),
        deadline=deadline,
        backoff=0.01,
    )


def _graph_error(status, code, message="ignored text", request_id="req-1"):
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"request-id": request_id, "date": "2026-01-01T00:00:00"},
        }
    }
    return httpx.Response(status, json=body)


async def test_malformed_user_answer_is_a_retryable_graph_error():
    def handler(request):
        return httpx.Response(200, text="<html>proxy says hi</html>", headers={"request-id": "r9"})

    client = _client(handler)
    with pytest.raises(GraphError) as caught:
        await client.get_user("alice@contoso.test")
    await client.aclose()
    error = caught.value
    assert isinstance(error, UpstreamError) and error.status == 502
    assert error.retryable and not error.may_have_applied
    assert "unreadable" in error.message and "alice@contoso.test" in error.message
    assert "proxy says hi" not in error.message
    assert error.request_id == "r9"


async def test_denied_password_reset_names_permissions_and_role_not_graph_text():
    seen = []

    def handler(request):
        seen.append(request)
        return _graph_error(403, "Authorization_RequestDenied", message=f"echo {PASSWORD}")

    client = _client(handler)
    with pytest.raises(GraphError) as caught:
        await client.set_password(OBJECT_ID, PASSWORD, subject="alice@contoso.test")
    await client.aclose()
    error = caught.value
    assert (error.graph_status, error.code, error.request_id) == (
        403,
        "Authorization_RequestDenied",
        "req-1",
    )
    assert error.status == 502  # the mount's answer, not Graph's
    assert not error.retryable and not error.may_have_applied
    for needle in (
        "User-PasswordProfile.ReadWrite.All",
        "User.ReadWrite.All",
        "User Administrator",
        "Privileged Authentication Administrator",
        "alice@contoso.test",
        "request-id req-1",
    ):
        assert needle in error.message
    assert PASSWORD not in error.message and "echo" not in error.message
    assert len(seen) == 1  # a refusal is not retried
    assert seen[0].url.path == f"/v1.0/users/{OBJECT_ID}"


async def test_codes_pick_the_sentence():
    answers = {
        "GET": _graph_error(404, "Request_ResourceNotFound"),
        "PATCH": _graph_error(400, "Request_BadRequest"),
    }

    client = _client(lambda request: answers[request.method])
    with pytest.raises(GraphError) as missing:
        await client.get_user("bob@contoso.test")
    with pytest.raises(GraphError) as weak:
        await client.set_password(OBJECT_ID, PASSWORD, subject="bob@contoso.test")
    await client.aclose()
    assert missing.value.code == "Request_ResourceNotFound"
    assert 'Entra user "bob@contoso.test" was not found' in missing.value.message
    assert weak.value.code == "Request_BadRequest"
    assert "password policy" in weak.value.message
    assert not weak.value.may_have_applied


async def test_server_errors_on_a_write_may_have_applied_and_are_retried():
    calls = []

    def handler(request):
        calls.append(request.method)
        return httpx.Response(500, text="oops")

    client = _client(handler, deadline=0.5)
    with pytest.raises(GraphError) as caught:
        await client.set_password(OBJECT_ID, PASSWORD)
    await client.aclose()
    assert len(calls) > 1
    error = caught.value
    assert error.retryable and error.may_have_applied and error.graph_status == 500
    assert "Microsoft Graph failed" in error.message


async def test_a_pause_overrunning_the_deadline_reports_the_last_answer():
    """A loop too busy to wake in time must not turn Graph's 500 into a bare timeout."""
    loop = asyncio.get_running_loop()
    calls = []

    def handler(request):
        calls.append(request.method)
        # Block the loop (as a busy broker would) while the retry pause sleeps.
        loop.call_later(0.005, time.sleep, 0.4)
        return httpx.Response(500, text="oops")

    client = _client(handler, deadline=0.3)
    with pytest.raises(GraphError) as caught:
        await client.set_password(OBJECT_ID, PASSWORD)
    await client.aclose()
    assert calls == ["PATCH"]
    assert caught.value.graph_status == 500 and caught.value.may_have_applied
    assert "Microsoft Graph failed" in caught.value.message


async def test_server_errors_on_a_read_never_applied_anything():
    client = _client(lambda request: httpx.Response(502), deadline=0.3)
    with pytest.raises(GraphError) as caught:
        await client.get_user(OBJECT_ID)
    await client.aclose()
    assert caught.value.retryable and not caught.value.may_have_applied


async def test_maybe_applied_sticks_after_a_later_definite_answer():
    answers = iter([httpx.Response(500), _graph_error(429, "TooManyRequests")])

    def handler(request):
        response = next(answers)
        if response.status_code == 429:
            response.headers["Retry-After"] = "3600"
        return response

    client = _client(handler)
    with pytest.raises(GraphError) as caught:
        await client.set_password(OBJECT_ID, PASSWORD)
    await client.aclose()
    assert caught.value.graph_status == 429 and caught.value.may_have_applied


async def test_throttling_beyond_the_deadline_gives_up_at_once_without_side_effect():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "120"})

    client = _client(handler, deadline=2.0)
    with pytest.raises(GraphError) as caught:
        await client.set_password(OBJECT_ID, PASSWORD)
    await client.aclose()
    assert len(calls) == 1
    assert caught.value.graph_status == 429 and not caught.value.may_have_applied
    assert "throttled" in caught.value.message


async def test_a_throttled_call_carries_the_retry_after_capped_for_every_caller():
    """The lease manager schedules the next revocation from it (issue 13, point 21)."""
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(503, headers={"Retry-After": "120"})

    client = _client(handler, deadline=2.0)
    client.max_retry_after = 30.0
    with pytest.raises(GraphError) as caught:
        await client.set_password(OBJECT_ID, PASSWORD)
    assert caught.value.retryable and caught.value.retry_after == 30.0
    # The next call waits out the same (capped) hold without reaching Graph, and says so.
    with pytest.raises(GraphError) as held:
        await client.set_password(OBJECT_ID, PASSWORD)
    await client.aclose()
    assert len(calls) == 1
    assert held.value.retryable and held.value.retry_after is not None
    assert 29.0 < held.value.retry_after <= 30.0
    assert "Retry-After" in held.value.message


async def test_retry_after_is_honoured_then_success():
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "0.05"}), httpx.Response(503), None]
    )

    def handler(request):
        return next(answers) or httpx.Response(204)

    client = _client(handler)
    await client.set_password(OBJECT_ID, PASSWORD)
    await client.aclose()


async def test_a_401_refreshes_the_token_once():
    tokens = Tokens()
    auth = []

    def handler(request):
        auth.append(request.headers["Authorization"])
        return _graph_error(401, "InvalidAuthenticationToken")

    client = _client(handler, tokens=tokens)
    with pytest.raises(GraphError) as caught:
        await client.get_user(OBJECT_ID)
    await client.aclose()
    assert auth == ["Bearer token-0", "Bearer token-1"]
    assert tokens.invalidated == 1
    assert caught.value.graph_status == 401 and "access token" in caught.value.message


@pytest.mark.parametrize(
    ("exc", "applied"),
    [(httpx.ConnectError("refused"), False), (httpx.ReadTimeout("slow"), True)],
)
async def test_transport_failures_on_a_write(exc, applied):
    def handler(request):
        raise exc

    client = _client(handler, deadline=0.3)
    with pytest.raises(GraphError) as caught:
        await client.set_password(OBJECT_ID, PASSWORD)
    await client.aclose()
    assert caught.value.retryable
    assert caught.value.may_have_applied is applied
    assert caught.value.graph_status is None


async def test_user_keys_are_escaped():
    paths = []

    def handler(request):
        paths.append(request.url.raw_path.decode())
        return httpx.Response(
            200, json={"id": OBJECT_ID, "userPrincipalName": "x@y", "accountEnabled": True}
        )

    client = _client(handler)
    await client.get_user("guest_a.com#EXT#@contoso.onmicrosoft.com")
    await client.get_user("$weird@contoso.test")
    await client.aclose()
    assert paths[0].startswith("/v1.0/users/guest_a.com%23EXT%23@contoso.onmicrosoft.com?")
    assert paths[1].startswith("/v1.0/users('$weird@contoso.test')?")
    assert "%24select=id%2CuserPrincipalName" in paths[0] or "$select=id" in paths[0]
