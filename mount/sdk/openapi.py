"""The OpenAPI document of a path table: every served operation, Vault's envelope and
error shapes as schemas, so that a schema checker can hold the server to it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from mount.sdk.logical import Operation

if TYPE_CHECKING:
    from mount.sdk.framework import Path

__all__ = [
    "ENVELOPE",
    "ERRORS",
    "legacy_schema",
    "openapi_document",
    "openapi_paths",
    "openapi_urls",
]

_ENVELOPE_REF = {"$ref": "#/components/schemas/VaultResponse"}
_ERRORS_REF = {"$ref": "#/components/schemas/VaultErrors"}
_OBJECT_OR_NULL = {"type": "object", "nullable": True}
ENVELOPE: dict[str, Any] = {
    "type": "object",
    "description": "Vault's response envelope; sys/ paths may repeat `data` at the top level.",
    "required": [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ],
    "properties": {
        "request_id": {"type": "string"},
        "lease_id": {"type": "string"},
        "renewable": {"type": "boolean"},
        "lease_duration": {"type": "integer"},
        "data": _OBJECT_OR_NULL,
        "wrap_info": _OBJECT_OR_NULL,
        "warnings": {"type": "array", "items": {"type": "string"}, "nullable": True},
        "auth": _OBJECT_OR_NULL,
    },
}
ERRORS: dict[str, Any] = {
    "type": "object",
    "description": 'Vault\'s error body: `{"errors": [...]}`, empty for a plain 404.',
    "required": ["errors"],
    "additionalProperties": False,
    "properties": {"errors": {"type": "array", "items": {"type": "string"}}},
}
_METHODS = {
    Operation.READ: "get",
    Operation.LIST: "get",
    Operation.CREATE: "post",
    Operation.UPDATE: "post",
    Operation.DELETE: "delete",
    Operation.PATCH: "patch",
}
_LIST_PARAMETER = {
    "name": "list",
    "description": "Must be set to `true`",
    "in": "query",
    "schema": {"type": "string", "enum": ["true"]},
    "required": True,
}
_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)")
_OPTIONAL_TAIL = re.compile(r"\((?:\?:)?/(\{\w+\})\)\?\Z")


def openapi_urls(spec: Path) -> list[tuple[str, list[str]]]:
    """The OpenAPI templates (`roles/{name}`) a path regex serves, with their parameters.

    A pattern ending in an optional `/{param}` group serves two URLs, both listed: the
    body form (`leases/renew`, the lease id in the body) and the URL form.
    """
    params: list[str] = []

    def repl(match: re.Match[str]) -> str:
        params.append(match.group(1))
        return "{" + match.group(1) + "}"

    text = _GROUP.sub(repl, spec.pattern)
    tail = _OPTIONAL_TAIL.search(text)
    if tail is None:
        return [(_clean(text), params)]
    param = tail.group(1)[1:-1]
    head = text[: tail.start()]
    without = [p for p in params if p != param]
    return [(_clean(head), without), (_clean(head + "/" + tail.group(1)), params)]


def _clean(text: str) -> str:
    # A list path's optional slash stays (Vault documents `roles/`); after a parameter
    # it only allows both spellings of the same path.
    text = text.replace("}/?", "}").replace("/?", "/").replace("?", "").replace("\\", "")
    text = re.sub(r"[()^$]", "", text)
    return "/" + text


def legacy_schema(**properties: str) -> dict[str, Any]:
    """The schema of a legacy (non-envelope) answer, as sys/health's: these keys, of
    these JSON types (`Path.response_schema`)."""
    return {
        "type": "object",
        "required": sorted(properties),
        "properties": {name: {"type": kind} for name, kind in properties.items()},
    }


def _responses(spec: Path, op: Operation) -> dict[str, Any]:
    body = dict(spec.response_schema) if spec.response_schema is not None else _ENVELOPE_REF
    content: dict[str, Any] = {"application/json": {"schema": body}}
    for media_type in spec.other_content_types:
        content[media_type] = {"schema": {"type": "string"}}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": content}}
    if op in (Operation.CREATE, Operation.UPDATE, Operation.DELETE, Operation.PATCH):
        responses["204"] = {"description": "Done; no body."}
    if spec.accepted:
        # Asynchronous work (a revoke with sync=false, tidy): no body, or the envelope.
        responses["202"] = {"description": "Accepted; the work goes on in the background."}
    errors = {"application/json": {"schema": _ERRORS_REF}}
    responses["4XX"] = {
        "description": "The request was refused; the errors say why.",
        "content": errors,
    }
    responses["5XX"] = {"description": "The server or Entra failed.", "content": errors}
    return responses


def _operation(spec: Path, op: Operation, params: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "summary": spec.summaries.get(op, spec.help_synopsis),
        "responses": _responses(spec, op),
    }
    if op is Operation.LIST:
        entry["parameters"] = [_LIST_PARAMETER]
    body_fields = {
        n: {**f.type.openapi, "description": f.description}
        for n, f in spec.fields.items()
        if n not in params
    }
    if op in (Operation.CREATE, Operation.UPDATE, Operation.PATCH) and body_fields:
        entry["requestBody"] = {
            "content": {
                "application/json": {"schema": {"type": "object", "properties": body_fields}}
            }
        }
    return entry


def openapi_paths(paths: Iterable[Path]) -> dict[str, Any]:
    """OpenAPI path items for the given paths, relative to their mount."""
    out: dict[str, Any] = {}
    for spec in paths:
        for url, params in openapi_urls(spec):
            item: dict[str, Any] = out.setdefault(url, {"description": spec.help_synopsis})
            if params:
                item["parameters"] = [
                    {
                        "name": p,
                        "description": spec.fields[p].description if p in spec.fields else p,
                        "in": "path",
                        "schema": {"type": "string"},
                        "required": True,
                    }
                    for p in params
                ]
            for op in spec.operations:
                method = _METHODS.get(op)
                if method is not None and method not in item:
                    item[method] = _operation(spec, op, params)
    return out


def openapi_document(
    paths: Mapping[str, Any], *, title: str = "entra-broker API", version: str = "0.1.0"
) -> dict[str, Any]:
    """A whole document around path items (from `openapi_paths`, prefixed as served)."""
    return {
        "openapi": "3.0.2",
        "info": {
            "title": title,
            "description": "The HashiCorp Vault HTTP API, served by entra-broker. "
            "All API routes are prefixed with `/v1/`.",
            "version": version,
        },
        "paths": dict(paths),
        "components": {"schemas": {"VaultResponse": ENVELOPE, "VaultErrors": ERRORS}},
    }
