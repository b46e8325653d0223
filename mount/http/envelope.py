"""HTTP to logical request and back: Vault's verbs, body rules and response envelope."""

from __future__ import annotations

import asyncio
import json
import math
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import MultiMapping

from mount.ids import new_request_id
from mount.reply import Reply
from mount.request import ApiRequest
from mount.sdk.durations import DurationError, parse_duration
from mount.sdk.errors import InvalidRequestError, RateLimitedError, VaultError
from mount.sdk.logical import Operation

__all__ = ["BodyTimeoutError", "error_response", "parse_request", "render"]

API_PREFIX = "/v1/"
_LIST_TRUE = {"true", "True", "TRUE", "t", "T", "1"}
_HEADERS = {
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def token_of(request: web.Request) -> str:
    """X-Vault-Token wins over `Authorization: Bearer`; other schemes are ignored."""
    token = request.headers.get("X-Vault-Token", "")
    if token:
        return token
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _query_data(query: MultiMapping[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in query:
        values = query.getall(key)
        data[key] = values[0] if len(values) == 1 else list(values)
    return data


def _go_json_error(text: str, exc: json.JSONDecodeError) -> str:
    """Describe a JSON syntax error in the words Vault's decoder uses (Go's encoding/json)."""
    pos = exc.pos
    if exc.msg.startswith("Extra data"):
        return _go_trailing_error(text[pos:])
    if pos >= len(text.rstrip()):
        return "unexpected EOF"
    char = text[pos]
    if exc.msg.startswith("Expecting property name"):
        before = text[:pos].rstrip()
        if before.endswith(","):
            char = ","
    return f"invalid character {_go_char(char)} looking for beginning of value"


def _go_trailing_error(rest: str) -> str:
    """Vault decodes what follows the first value too; say where that second value breaks."""
    rest = rest.lstrip()
    for literal in ("true", "false", "null"):
        if rest[:1] == literal[0]:
            for index, char in enumerate(rest[: len(literal)]):
                if char != literal[index]:
                    return (
                        f"invalid character {_go_char(char)} in literal {literal} "
                        f"(expecting {_go_char(literal[index])})"
                    )
            break
    return f"invalid character {_go_char(rest[:1])} after top-level value"


def _go_char(char: str) -> str:
    if char == "'":
        return "'\\''"
    if char == "\n":
        return "'\\n'"
    return f"'{char}'"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} is out of range")
    return number


# One decoder for every body: json.loads with options builds a new one per call.
_BODY_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


# Deeper bodies are refused at the edge: storage encoding, audit hashing and response
# encoding recurse once or twice a level, and Python's stack allows about 1000 frames.
MAX_JSON_DEPTH = 100
_TOO_DEEP = (
    f"failed to decode JSON input: exceeded max depth of {MAX_JSON_DEPTH} nested objects "
    "and arrays; send a flatter JSON object"
)


def _nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than `limit` levels (the top one is level 1);
    walked with a stack of its own, not recursion."""
    if not isinstance(value, dict | list):
        return False
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        if depth > limit:
            return True
        for item in container.values() if isinstance(container, dict) else container:
            if isinstance(item, dict | list):
                pending.append((item, depth + 1))
    return False


def decode_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """Parse a write body: JSON whatever the Content-Type, forms only when declared."""
    text = raw.decode("utf-8", errors="replace")
    stripped = text.strip()
    if not stripped or stripped == "null":
        return {}
    # Vault takes a form body only when declared and not starting like a JSON object/array.
    if content_type == "application/x-www-form-urlencoded" and stripped[0] not in "{[":
        return dict(parse_qsl(text, keep_blank_values=True))
    try:
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _BODY_DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"failed to decode JSON input: {_go_json_error(text, exc)}"
        ) from None
    except ValueError as exc:  # non-finite numbers, integers past Python's digit limit
        raise InvalidRequestError(f"failed to decode JSON input: {exc}") from None
    except RecursionError:
        raise InvalidRequestError(_TOO_DEEP) from None
    if _nested_deeper_than(value, MAX_JSON_DEPTH):
        raise InvalidRequestError(_TOO_DEEP)
    try:
        # Python accepts lone surrogates (a \ud800 escape) that UTF-8 cannot carry; the
        # text came from UTF-8, so only a \u escape can have made one.
        if "\\u" in text:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(
            "failed to decode JSON input: a string holds an invalid Unicode escape "
            "(a lone surrogate); send valid UTF-8 text"
        ) from None
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "bool"}.get(type(value), "number")
        raise InvalidRequestError(
            "failed to decode JSON input: json: cannot unmarshal "
            f"{kind} into Go value of type map[string]interface {{}}"
        )
    return value


async def _read_body(request: web.Request, read_timeout: float) -> bytes:
    """The whole body, or a 400 for a client that sends it too slowly (Go's ReadTimeout
    makes Vault's read fail the same way); the connection is closed after the answer."""
    try:
        async with asyncio.timeout(read_timeout or None):
            return await request.read()
    except TimeoutError:
        raise BodyTimeoutError(
            f"the request body did not arrive within {read_timeout:g}s (the listener's "
            "http_read_timeout); send it at once"
        ) from None


class BodyTimeoutError(InvalidRequestError):
    """A body that did not arrive in time: answered 400, then the connection closes."""


def _dir(path: str) -> str:
    """LIST always addresses a folder: Vault adds the trailing slash the client may omit."""
    return path.rstrip("/") + "/"


async def parse_request(request: web.Request, *, read_timeout: float = 0) -> ApiRequest:
    """Map an HTTP request onto Vault's logical operations; a body must arrive within
    `read_timeout` seconds (0: no limit)."""
    parsed = await _parse(request, read_timeout)
    header = request.headers.get(WRAP_TTL_HEADER, "")
    if header:
        parsed.wrap_ttl = _wrap_seconds(header, f"error parsing {WRAP_TTL_HEADER} header: ")
    return parsed


async def _parse(request: web.Request, read_timeout: float) -> ApiRequest:
    path = request.path[len(API_PREFIX) :] if request.path.startswith(API_PREFIX) else ""
    method = request.method.upper()
    query = request.query
    token = token_of(request)
    remote = request.remote or ""
    if query.get("help") in _LIST_TRUE and method == "GET":
        return ApiRequest(method, Operation.HELP, path, {}, token, dict(query), remote)
    if method in ("GET", "HEAD"):
        data = _query_data(query)
        listed = data.pop("list", None)
        # A repeated parameter arrives as a list: the last one counts.
        is_list = (listed[-1] if isinstance(listed, list) else listed) in _LIST_TRUE
        if is_list:
            return ApiRequest(method, Operation.LIST, _dir(path), data, token, remote=remote)
        accept = request.headers.get("Accept", "")
        return ApiRequest(
            method, Operation.READ, path, data, token, dict(query), remote, accept=accept
        )
    if method == "LIST":
        return ApiRequest(
            method, Operation.LIST, _dir(path), _query_data(query), token, remote=remote
        )
    if method == "DELETE":
        return ApiRequest(method, Operation.DELETE, path, _query_data(query), token, remote=remote)
    if method in ("PUT", "POST", "PATCH"):
        if path.endswith("/"):
            raise InvalidRequestError("cannot write to a path ending in '/'")
        body = await _read_body(request, read_timeout)
        data = decode_body(body, request.content_type)
        operation = Operation.PATCH if method == "PATCH" else Operation.UPDATE
        return ApiRequest(method, operation, path, data, token, remote=remote)
    raise InvalidRequestError("cannot handle internal-only request operation")


WRAP_TTL_HEADER = "X-Vault-Wrap-TTL"


def _wrap_seconds(text: str, where: str) -> int:
    """The requested wrap TTL in whole seconds as Vault reads it; zero asks for no
    wrapping. Only the header asks for it: a `wrap_ttl` parameter is data, as in Vault."""
    text = text.strip()
    if text.startswith("-"):
        raise InvalidRequestError(where + "requested wrap ttl cannot be negative")
    try:
        seconds = parse_duration(text).total_seconds()
    except DurationError as exc:
        raise InvalidRequestError(where + str(exc)) from None
    # A sub-second TTL ("500ms") asks for wrapping too: it is rounded up to a second.
    return math.ceil(seconds) or int(any(digit in text for digit in "123456789"))


# One encoder for every answer: json.dumps with options builds a new one per call.
_COMPACT_ENCODER = json.JSONEncoder(separators=(",", ":"))


def _json(body: dict[str, Any], status: int, extra: dict[str, str] | None = None) -> web.Response:
    text = _COMPACT_ENCODER.encode(body) + "\n"
    # Exactly "application/json", no charset: hvac parses error bodies only on that value.
    headers = {**_HEADERS, "Content-Type": "application/json", **(extra or {})}
    return web.Response(body=text.encode(), status=status, headers=headers)


def render(response: Reply | None, *, request_id: str | None = None) -> web.Response:
    """Turn a logical response into Vault's envelope (or its legacy raw shapes)."""
    if response is None:
        return web.Response(status=204, headers={**_HEADERS, "Content-Type": "application/json"})
    if response.empty:
        return web.Response(
            status=response.status,
            headers={**_HEADERS, "Content-Type": "application/json", **response.headers},
        )
    if response.raw is not None:
        return _json(response.raw, response.status, response.headers)
    if response.raw_body is not None:
        headers = {**_HEADERS, "Content-Type": response.content_type, **response.headers}
        return web.Response(body=response.raw_body, status=response.status, headers=headers)
    envelope = response.envelope(request_id or new_request_id())
    return _json(envelope, response.status, response.headers)


def error_response(exc: VaultError) -> web.Response:
    """Vault's error body: `{"errors": [...]}` with the error's status."""
    extra: dict[str, str] = {}
    if isinstance(exc, RateLimitedError):
        extra["Retry-After"] = str(max(1, int(round(exc.retry_after))))
    return _json({"errors": exc.errors}, exc.status, extra)
