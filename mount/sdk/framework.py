"""Declarative path tables: a backend lists its paths, the framework does the dull parts.

Matching, merging URL captures over the body, typed field parsing with Vault's error
texts, create-vs-update through the existence check, and `?help=1` all happen here once
(after Vault's sdk/framework), so handlers read top to bottom: load, validate, act.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from mount.sdk.durations import DurationError, parse_duration
from mount.sdk.errors import (
    InvalidRequestError,
    UnsupportedOperationError,
    UnsupportedPathError,
)
from mount.sdk.logical import LoginSpec, Operation, Request, Response, SecretRequest, SecretTTL

__all__ = [
    "Backend",
    "Field",
    "FieldData",
    "FieldType",
    "Handler",
    "Path",
    "SecretType",
    "SpecialPaths",
    "name_pattern",
]

Handler = Callable[[Request, "FieldData"], Awaitable[Response | None]]
ExistenceCheck = Callable[[Request, "FieldData"], Awaitable[bool]]


def name_pattern(name: str) -> str:
    """A named group for one path segment of letters, digits, `-`, `.`, `_` and `@`."""
    return rf"(?P<{name}>\w(?:[\w\-.@]*\w)?)"


class FieldType(enum.Enum):
    STRING = "string"
    NAME = "name"
    INT = "int"
    BOOL = "bool"
    DURATION = "duration (sec)"
    STRING_LIST = "slice"
    MAP = "map"
    # Passed through unconverted, for fields whose handler checks the JSON type itself.
    RAW = "raw"

    @property
    def openapi(self) -> dict[str, Any]:
        schemas: dict[FieldType, dict[str, Any]] = {
            FieldType.STRING: {"type": "string"},
            FieldType.NAME: {"type": "string"},
            FieldType.INT: {"type": "integer"},
            FieldType.BOOL: {"type": "boolean"},
            FieldType.DURATION: {"type": "integer", "format": "seconds"},
            FieldType.STRING_LIST: {"type": "array", "items": {"type": "string"}},
            FieldType.MAP: {"type": "object"},
            FieldType.RAW: {},
        }
        return schemas[self]


@dataclass(frozen=True, slots=True)
class Field:
    """One parameter of a path. `sensitive` values are never echoed or logged."""

    type: FieldType
    description: str
    default: Any = None
    required: bool = False
    sensitive: bool = False
    allowed: tuple[str, ...] | None = None


class _ConversionError(ValueError):
    pass


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _convert(ftype: FieldType, value: Any) -> Any:
    """Coerce a wire value to the field's type (strings are accepted for every type)."""
    if ftype is FieldType.RAW:
        return value
    if ftype in (FieldType.STRING, FieldType.NAME):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return str(value)
        raise _ConversionError(f"'{value}' expected type 'string', got unconvertible type")
    if ftype is FieldType.INT:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value.strip())
        raise _ConversionError(f"cannot parse '{value}' as int")
    if ftype is FieldType.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float):
            return value != 0
        if isinstance(value, str):
            if value in _TRUE:
                return True
            if value in _FALSE or value == "":
                return False
        raise _ConversionError("'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax")
    if ftype is FieldType.DURATION:
        try:
            return parse_duration(value)
        except DurationError as exc:
            raise _ConversionError(str(exc)) from None
    if ftype is FieldType.STRING_LIST:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
            return [str(v) for v in value]
        raise _ConversionError(f"'{value}' expected a list of strings")
    if ftype is FieldType.MAP:
        if isinstance(value, dict):
            return value
        raise _ConversionError("expected a map")
    raise _ConversionError(f"unknown field type {ftype}")  # pragma: no cover


class FieldData:
    """The request's fields, parsed and validated against a path's schema up front."""

    def __init__(self, schema: Mapping[str, Field], raw: Mapping[str, Any]) -> None:
        self.schema = schema
        self.raw = dict(raw)
        self._values: dict[str, Any] = {}
        problems: list[str] = []
        for name, spec in schema.items():
            if name not in raw or raw[name] is None:
                continue
            try:
                value = _convert(spec.type, raw[name])
            except (ValueError, OverflowError) as exc:  # incl. _ConversionError
                problems.append(f'error converting input for field "{name}": {exc}')
                continue
            if spec.allowed is not None and value not in spec.allowed:
                choices = ", ".join(f'"{a}"' for a in spec.allowed)
                problems.append(f'invalid value "{value}" for field "{name}"; use one of {choices}')
                continue
            self._values[name] = value
        if problems:
            raise InvalidRequestError(errors=[f"Field validation failed: {p}" for p in problems])
        self.unknown = sorted(k for k in raw if k not in schema)

    def provided(self, name: str) -> bool:
        """True when the caller sent a value for `name`."""
        return name in self._values

    def get(self, name: str) -> Any:
        """The parsed value, else the field's default (a copy for lists and maps)."""
        if name in self._values:
            return self._values[name]
        spec = self.schema.get(name)
        if spec is None:
            raise KeyError(f"field {name!r} is not in the path's schema")
        default = spec.default
        if spec.type is FieldType.DURATION and default is not None:
            return default if isinstance(default, timedelta) else parse_duration(default)
        if isinstance(default, list | dict):
            return type(default)(default)
        return default

    def require(self, *names: str) -> None:
        """Raise one 400 naming every missing required field."""
        missing = [n for n in names if not self.provided(n) or self._values[n] in ("", [])]
        if missing:
            raise InvalidRequestError(errors=[f"{n} is required" for n in missing])


@dataclass(frozen=True, slots=True)
class Path:
    """One entry of a backend's path table."""

    pattern: str
    operations: Mapping[Operation, Handler]
    fields: Mapping[str, Field] = field(default_factory=dict)
    existence_check: ExistenceCheck | None = None
    help_synopsis: str = ""
    help_description: str = ""
    # Operation ids and summaries for the OpenAPI document, by operation.
    summaries: Mapping[Operation, str] = field(default_factory=dict)

    def compiled(self) -> re.Pattern[str]:
        return re.compile(f"^{self.pattern}$")


RenewFn = Callable[[SecretRequest], Awaitable[SecretTTL | None]]
RevokeFn = Callable[[SecretRequest], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class SecretType:
    """Callbacks for a kind of leased credential; `renew` None means not renewable."""

    name: str
    revoke: RevokeFn
    renew: RenewFn | None = None


@dataclass(frozen=True, slots=True)
class SpecialPaths:
    """Vault's PathsSpecial: paths inside the mount reached without a token, or only with sudo.

    Entries are exact paths or prefixes ending in `*`, relative to the mount.
    """

    unauthenticated: tuple[str, ...] = ()
    sudo: tuple[str, ...] = ()

    def is_unauthenticated(self, path: str) -> bool:
        return _matches_any(self.unauthenticated, path)

    def needs_sudo(self, path: str) -> bool:
        return _matches_any(self.sudo, path)


# Request paths whose route a backend remembers; past it the memory starts over.
_ROUTE_CACHE_SIZE = 1024


def _matches_any(patterns: tuple[str, ...], path: str) -> bool:
    path = path.rstrip("/")
    return any(
        path.startswith(p[:-1]) if p.endswith("*") else path == p.rstrip("/") for p in patterns
    )


class Backend:
    """Routes logical requests to a path table; subclass or compose with paths and secrets."""

    def __init__(
        self,
        paths: Iterable[Path],
        secrets: Iterable[SecretType] = (),
        help_text: str = "",
        type_name: str = "",
        special_paths: SpecialPaths | None = None,
    ) -> None:
        self.paths = list(paths)
        self.special_paths = special_paths or SpecialPaths()
        self._compiled = [(p, p.compiled()) for p in self.paths]
        self._routes: dict[str, tuple[Path, dict[str, str]]] = {}
        self.secrets = {s.name: s for s in secrets}
        self.help_text = help_text
        self.type_name = type_name

    async def close(self) -> None:
        """Release what the backend holds (HTTP clients, threads); called at unmount."""

    async def renew_auth(self, request: Request, auth: LoginSpec) -> LoginSpec:
        """Approve renewing a token this auth method issued at `request.path` (AuthRenew).

        `auth` is the login as the token has it. Return it with the TTLs the renewal may
        grant now (the role's current ones), or raise InvalidRequestError to refuse.
        """
        raise InvalidRequestError("this auth type doesn't support renew")

    def route(self, path: str) -> tuple[Path, dict[str, str]]:
        found = self._routes.get(path)
        if found is None:
            found = self._match(path)
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()  # names in paths are unbounded; keep the cache small
            self._routes[path] = found
        spec, captures = found
        return spec, dict(captures)

    def _match(self, path: str) -> tuple[Path, dict[str, str]]:
        # The paths are tried in order, each a regex: the same few paths (lookup,
        # renew, creds) come again and again, so route() remembers what they matched.
        for spec, regex in self._compiled:
            match = regex.match(path)
            if match is not None:
                return spec, {k: v for k, v in match.groupdict().items() if v is not None}
        raise UnsupportedPathError()

    async def handle(self, request: Request) -> Response | None:
        """Serve one request: match, parse fields, pick the operation, call the handler."""
        spec, captures = self.route(request.path)
        operation = request.operation
        if operation is Operation.HELP:
            return self.help_response(request.path, spec)
        if operation not in spec.operations and operation not in (
            Operation.CREATE,
            Operation.UPDATE,
        ):
            raise UnsupportedOperationError()
        merged = dict(request.data)
        warnings: list[str] = []
        for key, value in captures.items():
            if key in merged and merged[key] != value:
                warnings.append(
                    f'Value for field "{key}" in the request body was replaced by the value '
                    "in the URL path"
                )
            merged[key] = value
        data = FieldData(spec.fields, merged)
        if operation in (Operation.CREATE, Operation.UPDATE):
            operation = await self._create_or_update(spec, request, data)
        handler = spec.operations.get(operation)
        if handler is None:
            raise UnsupportedOperationError()
        real = Request(
            operation=operation,
            path=request.path,
            data=merged,
            storage=request.storage,
            mount_point=request.mount_point,
            identity=request.identity,
            remote_address=request.remote_address,
            context=request.context,
        )
        response = await handler(real, data)
        if (
            data.unknown
            and response is not None
            and response.raw is None
            and response.raw_body is None
        ):
            ignored = ", ".join(data.unknown)
            warnings.append(f"Endpoint ignored these unrecognized parameters: [{ignored}]")
        if warnings and response is not None:
            response.warnings = [*warnings, *response.warnings]
        return response

    async def write_operation(self, request: Request) -> Operation:
        """CREATE or UPDATE for a write to `request.path`, by the path's existence check
        (for the ACL check, which needs the capability before the handler runs)."""
        spec, captures = self.route(request.path)
        data = FieldData(spec.fields, {**request.data, **captures})
        return await self._create_or_update(spec, request, data)

    async def _create_or_update(self, spec: Path, request: Request, data: FieldData) -> Operation:
        if spec.existence_check is None:
            return Operation.UPDATE if Operation.UPDATE in spec.operations else Operation.CREATE
        exists = await spec.existence_check(request, data)
        if exists:
            return Operation.UPDATE
        return Operation.CREATE if Operation.CREATE in spec.operations else Operation.UPDATE

    def help_response(self, path: str, spec: Path | None = None) -> Response:
        """Vault's `?help=1` answer: text, an OpenAPI fragment for the path, see_also."""
        if spec is None:
            spec, _ = self.route(path)
        lines = [
            f"Request:        {path}",
            f"Matching Route: ^{spec.pattern}$",
            "",
            spec.help_synopsis,
        ]
        if spec.fields:
            lines += ["", "## PARAMETERS", ""]
            for name in sorted(spec.fields):
                f = spec.fields[name]
                # Vault's help calls every string-like field a string.
                label = "string" if f.type is FieldType.NAME else f.type.value
                lines += [f"    {name} ({label})", "", f"        {f.description}", ""]
            lines.pop()
        if spec.help_description:
            lines += ["", "## DESCRIPTION", "", spec.help_description]
        return Response(
            raw={
                "help": "\n".join(lines),
                "openapi": self.openapi_document([spec]),
                "see_also": None,
            }
        )

    def openapi_paths(self, paths: Iterable[Path] | None = None) -> dict[str, Any]:
        """OpenAPI path items for the given paths (all when None), relative to the mount."""
        out: dict[str, Any] = {}
        for spec in self.paths if paths is None else paths:
            url, params = _openapi_url(spec)
            item: dict[str, Any] = {"description": spec.help_synopsis}
            path_params = [
                {
                    "name": p,
                    "description": spec.fields[p].description if p in spec.fields else p,
                    "in": "path",
                    "schema": {"type": "string"},
                    "required": True,
                }
                for p in params
            ]
            if path_params:
                item["parameters"] = path_params
            body_fields = {
                n: {**f.type.openapi, "description": f.description}
                for n, f in spec.fields.items()
                if n not in params
            }
            for op in spec.operations:
                method = {
                    Operation.READ: "get",
                    Operation.LIST: "get",
                    Operation.CREATE: "post",
                    Operation.UPDATE: "post",
                    Operation.DELETE: "delete",
                    Operation.PATCH: "patch",
                }.get(op)
                if method is None or method in item:
                    continue
                entry: dict[str, Any] = {
                    "summary": spec.summaries.get(op, spec.help_synopsis),
                    "responses": {"200": {"description": "OK"}},
                }
                if op is Operation.LIST:
                    entry["parameters"] = [
                        {
                            "name": "list",
                            "description": "Must be set to `true`",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["true"]},
                            "required": True,
                        }
                    ]
                if method in ("post", "patch") and body_fields:
                    entry["requestBody"] = {
                        "content": {
                            "application/json": {
                                "schema": {"type": "object", "properties": body_fields}
                            }
                        }
                    }
                item[method] = entry
            out[url] = item
        return out

    def openapi_document(self, paths: Iterable[Path] | None = None) -> dict[str, Any]:
        return {
            "openapi": "3.0.2",
            "info": {
                "title": "entra-broker API",
                "description": "The HashiCorp Vault HTTP API, served by entra-broker. "
                "All API routes are prefixed with `/v1/`.",
                "version": "0.1.0",
            },
            "paths": self.openapi_paths(paths),
            "components": {"schemas": {}},
        }


_GROUP = re.compile(r"\(\?P<(\w+)>(?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)")


def _openapi_url(spec: Path) -> tuple[str, list[str]]:
    """Turn a path regex into an OpenAPI template (`roles/{name}`) and its parameter names."""
    params: list[str] = []

    def repl(match: re.Match[str]) -> str:
        params.append(match.group(1))
        return "{" + match.group(1) + "}"

    text = _GROUP.sub(repl, spec.pattern)
    # An optional trailing "/{param}" group documents the form that carries it.
    text = re.sub(r"\((?:\?:)?/(\{\w+\})\)\?", r"/\1", text)
    # A list path's optional slash stays (Vault documents `roles/`); after a parameter
    # it only allows both spellings of the same path.
    text = text.replace("}/?", "}").replace("/?", "/").replace("?", "").replace("\\", "")
    text = re.sub(r"[()^$]", "", text)
    return "/" + text, params
