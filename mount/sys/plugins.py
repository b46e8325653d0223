"""sys/plugins/catalog: the engines and auth methods built into this server, read-only.

Nothing is registered at runtime: the catalog is what the server was built with (the
Entra engine, the auth methods of mount.auth.methods and the token method), each a
builtin, as `bao plugin list` and `bao plugin info` show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from mount.reply import Reply
from mount.sdk.errors import InvalidRequestError, NotFoundError
from mount.sdk.fields import Field, FieldData, FieldType
from mount.sdk.framework import Path
from mount.sdk.logical import Operation, Request, Response

__all__ = ["Catalog", "paths"]

READ, LIST = Operation.READ, Operation.LIST
_TYPES = ("auth", "database", "secret")


@dataclass(frozen=True, slots=True)
class Catalog:
    """The builtin plugins by type: secret engines and auth methods, with one version."""

    secret: tuple[str, ...]
    auth: tuple[str, ...]
    version: str

    def names(self, kind: str) -> list[str]:
        if kind not in _TYPES:
            raise InvalidRequestError(
                f"unknown plugin type {kind!r}: use one of {', '.join(_TYPES)}"
            )
        return sorted({"secret": self.secret, "auth": self.auth}.get(kind, ()))

    def describe(self, kind: str, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "type": kind,
            "builtin": True,
            "version": f"v{self.version}+builtin",
            "deprecation_status": "supported",
            "command": "",
            "args": [],
            "sha256": "",
        }


def paths(catalog: Catalog) -> list[Path]:
    type_field = {"type": Field(FieldType.STRING, "The plugin type: auth, database or secret.")}
    name_field = {"name": Field(FieldType.STRING, "The plugin's name, for example entra.")}
    return [
        Path(
            "plugins/catalog/?",
            {READ: partial(catalog_read, catalog), LIST: partial(catalog_read, catalog)},
            help_synopsis="List the builtin plugins, by type.",
        ),
        Path(
            r"plugins/catalog/(?P<type>[^/]+)/?",
            {LIST: partial(type_list, catalog), READ: partial(type_list, catalog)},
            type_field,
            help_synopsis="List the builtin plugins of one type.",
        ),
        Path(
            r"plugins/catalog/(?P<type>[^/]+)/(?P<name>[^/]+)",
            {READ: partial(plugin_read, catalog)},
            {**type_field, **name_field},
            help_synopsis="Read one builtin plugin.",
        ),
    ]


def _detailed(catalog: Catalog, kinds: Iterable[str]) -> list[dict[str, Any]]:
    found = []
    for kind in kinds:
        for name in catalog.names(kind):
            entry = catalog.describe(kind, name)
            found.append(
                {k: entry[k] for k in ("name", "type", "builtin", "version", "deprecation_status")}
            )
    return found


async def catalog_read(catalog: Catalog, req: Request, d: FieldData) -> Response:
    data: dict[str, Any] = {kind: catalog.names(kind) for kind in _TYPES}
    data["detailed"] = _detailed(catalog, _TYPES)
    return Reply(data=data)


async def type_list(catalog: Catalog, req: Request, d: FieldData) -> Response:
    return Reply(data={"keys": catalog.names(d.get("type"))})


async def plugin_read(catalog: Catalog, req: Request, d: FieldData) -> Response:
    kind, name = d.get("type"), d.get("name")
    if name not in catalog.names(kind):
        raise NotFoundError(f"no {kind} plugin named {name!r} in the catalog")
    return Reply(data=catalog.describe(kind, name))
