"""Declarative path tables: a backend lists its paths, the framework does the dull parts.

Matching, merging URL captures over the body, typed field parsing with Vault's error
texts, create-vs-update through the existence check, and `?help=1` all happen here once
(after Vault's sdk/framework), so handlers read top to bottom: load, validate, act.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mount.sdk import openapi
from mount.sdk.errors import (
    InvalidRequestError,
    UnsupportedOperationError,
    UnsupportedPathError,
    VaultError,
)
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.logical import LoginSpec, Operation, Request, Response, SecretRequest, SecretTTL

__all__ = [
    "Backend",
    "Handler",
    "Path",
    "SecretType",
    "SpecialPaths",
]

Handler = Callable[[Request, "FieldData"], Awaitable[Response | None]]
ExistenceCheck = Callable[[Request, "FieldData"], Awaitable[bool]]


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
    # The JSON schema of the body when the path answers a legacy shape (sys/health)
    # instead of Vault's envelope; None: the envelope.
    response_schema: Mapping[str, Any] | None = None
    # Media types the path answers with besides JSON (sys/metrics: Prometheus text).
    other_content_types: tuple[str, ...] = ()
    # Whether the path may answer 202 (work left to the background: revoke, tidy).
    accepted: bool = False

    def compiled(self) -> re.Pattern[str]:
        """The pattern, for `fullmatch` only: the whole path must match, so that no
        trailing newline or other suffix slips past (Python's `$` allows a final `\\n`)."""
        return re.compile(self.pattern)


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
    """Vault's special-path match: `prefix*` covers every path starting with the prefix
    (a LIST of `leases/lookup/` included), anything else is the exact path, with or
    without its trailing slash."""
    exact = path.rstrip("/")
    return any(
        path.startswith(p[:-1]) if p.endswith("*") else exact == p.rstrip("/") for p in patterns
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
        case_insensitive: Iterable[str] = (),
    ) -> None:
        self.paths = list(paths)
        self.special_paths = special_paths or SpecialPaths()
        self._compiled = [(p, p.compiled()) for p in self.paths]
        self._regex = {id(p): regex for p, regex in self._compiled}
        # Captures whose value the backend folds to lower case (AppRole role names,
        # policy names): see canonical_path.
        self.case_insensitive = frozenset(case_insensitive)
        self._sensitive = {
            id(p): frozenset(n for n, f in p.fields.items() if f.sensitive) for p in self.paths
        }
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

    def canonical_path(self, path: str) -> str:
        """`path` as the backend will act on it: its case-insensitive captures folded.

        The ACL checks the path as sent; a backend that folds a name's case would
        otherwise let `role/R1` get round a rule written for `role/r1`, so the core
        checks this form too.
        """
        if not self.case_insensitive:
            return path
        try:
            spec, _ = self.route(path)
        except UnsupportedPathError:
            return path
        match = self._regex[id(spec)].fullmatch(path)
        if match is None:  # pragma: no cover - route() matched it
            return path
        folded, last = [], 0
        spans = sorted(
            match.span(name)
            for name in self.case_insensitive
            if name in match.re.groupindex and match.group(name) is not None
        )
        for start, end in spans:
            folded += [path[last:start], path[start:end].lower()]
            last = end
        return "".join([*folded, path[last:]])

    def sensitive_fields(self, path: str) -> frozenset[str]:
        """The fields the path serving `path` declares sensitive (none if unrouted)."""
        try:
            spec, _ = self.route(path)
        except UnsupportedPathError:
            return frozenset()
        return self._sensitive.get(id(spec), frozenset())

    def _match(self, path: str) -> tuple[Path, dict[str, str]]:
        # The paths are tried in order, each a regex: the same few paths (lookup,
        # renew, creds) come again and again, so route() remembers what they matched.
        for spec, regex in self._compiled:
            match = regex.fullmatch(path)
            if match is not None:
                return spec, {k: v for k, v in match.groupdict().items() if v is not None}
        raise UnsupportedPathError()

    async def handle(self, request: Request) -> Response | None:
        """Serve one request: match, parse fields, pick the operation, call the handler.

        An error never repeats the value of a field the path declares sensitive."""
        if request.operation is Operation.HELP and request.path in ("", "/"):
            return self.root_help_response()
        spec, captures = self.route(request.path)
        try:
            return await self._handle(request, spec, captures)
        except VaultError as exc:
            _redact(exc, spec, request.data)
            raise

    async def _handle(
        self, request: Request, spec: Path, captures: dict[str, str]
    ) -> Response | None:
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
        )
        response = await handler(real, data)
        if data.unknown:
            ignored = " ".join(data.unknown)
            warnings.append(f"Endpoint ignored these unrecognized parameters: [{ignored}]")
        if not warnings:
            return response
        if response is None:
            # A 204 has no body to carry a warning: answer 200 with the envelope, so that
            # a misspelt parameter is never dropped in silence.
            return Response(warnings=warnings)
        if response.carries_warnings():
            response.warnings = [*warnings, *response.warnings]
        return response

    async def write_operation(self, request: Request) -> Operation:
        """CREATE or UPDATE for a write to `request.path`, by the path's existence check
        (for the ACL check, which needs the capability before the handler runs)."""
        spec, captures = self.route(request.path)
        try:
            data = FieldData(spec.fields, {**request.data, **captures})
            return await self._create_or_update(spec, request, data)
        except VaultError as exc:
            _redact(exc, spec, request.data)
            raise

    async def _create_or_update(self, spec: Path, request: Request, data: FieldData) -> Operation:
        if spec.existence_check is None:
            return Operation.UPDATE if Operation.UPDATE in spec.operations else Operation.CREATE
        exists = await spec.existence_check(request, data)
        if exists:
            return Operation.UPDATE
        return Operation.CREATE if Operation.CREATE in spec.operations else Operation.UPDATE

    def root_help_response(self) -> Response:
        """Vault's help for the mount itself: the backend's help and every path."""
        routes = sorted((f"^{p.pattern}$", p.help_synopsis.strip()) for p in self.paths)
        lines = ["", "## DESCRIPTION", "", self.help_text.strip(), "", "## PATHS", ""]
        lines += _ROOT_HELP_PATHS.splitlines() + [""]
        for route, synopsis in routes:
            lines += [f"    {route}", f"        {synopsis}", ""]
        return Response(
            data={
                "help": "\n".join(lines) + "\n",
                "openapi": self.openapi_document(),
                "see_also": None,
            }
        )

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
            data={
                "help": "\n".join(lines),
                "openapi": self.openapi_document([spec]),
                "see_also": None,
            }
        )

    def openapi_paths(self, paths: Iterable[Path] | None = None) -> dict[str, Any]:
        """OpenAPI path items for the given paths (all when None), relative to the mount."""
        return openapi.openapi_paths(self.paths if paths is None else paths)

    def openapi_document(self, paths: Iterable[Path] | None = None) -> dict[str, Any]:
        return openapi.openapi_document(self.openapi_paths(paths))


_ROOT_HELP_PATHS = """\
The following paths are supported by this backend. To view help for
any of the paths below, use the help command with any route matching
the path pattern. Note that depending on the policy of your auth token,
you may or may not be able to access certain paths."""

# Shorter inputs are left in messages: replacing every "a" would garble them, and
# nothing that short is a secret.
_REDACT_MIN = 4


def _redact(exc: VaultError, spec: Path, data: Mapping[str, Any]) -> None:
    values = [
        str(data[name])
        for name, f in spec.fields.items()
        if f.sensitive and data.get(name) is not None and len(str(data[name])) >= _REDACT_MIN
    ]
    if values:
        exc.redact(values)
