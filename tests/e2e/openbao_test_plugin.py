"""A small mount.sdk backend served by `goplugin.serve`, to show the host is not Entra's.

`kv/<name>` keeps a value in the mount's storage (read, write, delete, list);
`lease/<name>` issues a counter under a lease whose revoke is written to `revoked/`,
readable at `revoked`. Run by OpenBao through a launcher: `python -m
tests.e2e.openbao_test_plugin` with the repository on PYTHONPATH.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from goplugin import serve
from mount.sdk import (
    Backend,
    BackendConfig,
    Field,
    FieldData,
    FieldType,
    Issued,
    Operation,
    Path,
    Request,
    Response,
    SecretRequest,
    SecretSpec,
    SecretTTL,
    SecretType,
    name_pattern,
)

FIELDS = {
    "name": Field(FieldType.NAME, "The key."),
    "value": Field(FieldType.STRING, "The value."),
}


async def kv_read(req: Request, d: FieldData) -> Response | None:
    value = await req.storage.get("kv/" + d.get("name"))
    return None if value is None else Response(data={"value": value})


async def kv_write(req: Request, d: FieldData) -> Response | None:
    await req.storage.put("kv/" + d.get("name"), d.get("value"))
    return None


async def kv_delete(req: Request, d: FieldData) -> Response | None:
    await req.storage.delete("kv/" + d.get("name"))
    return None


async def kv_list(req: Request, d: FieldData) -> Response | None:
    return Response(data={"keys": await req.storage.list("kv/")})


async def lease_read(req: Request, d: FieldData) -> Response | None:
    credential = uuid.uuid4().hex

    async def issue() -> Issued:
        return Issued({"credential": credential})

    return Response(
        secret=SecretSpec(
            type="counter",
            internal={"credential": credential},
            ttl=timedelta(minutes=5),
            max_ttl=timedelta(minutes=10),
        ),
        issue=issue,
    )


async def revoked_read(req: Request, d: FieldData) -> Response | None:
    return Response(data={"credentials": await req.storage.list("revoked/")})


async def revoke(req: SecretRequest) -> None:
    await req.storage.put("revoked/" + req.internal["credential"], True)


async def renew(req: SecretRequest) -> SecretTTL | None:
    return SecretTTL(timedelta(minutes=5), timedelta(minutes=10))


async def factory(conf: BackendConfig) -> Backend:
    return Backend(
        [
            Path(
                f"kv/{name_pattern('name')}",
                {
                    Operation.READ: kv_read,
                    Operation.UPDATE: kv_write,
                    Operation.DELETE: kv_delete,
                },
                FIELDS,
                help_synopsis="A stored value.",
            ),
            Path("kv/?", {Operation.LIST: kv_list}, help_synopsis="The stored keys."),
            Path(
                f"lease/{name_pattern('name')}",
                {Operation.READ: lease_read},
                {"name": FIELDS["name"]},
                help_synopsis="A counter under a lease.",
            ),
            Path("revoked", {Operation.READ: revoked_read}, help_synopsis="Revoked ones."),
        ],
        [SecretType("counter", revoke=revoke, renew=renew)],
        type_name="counter",
    )


if __name__ == "__main__":
    raise SystemExit(serve(factory, version="v1.0.0"))
