"""The declarative path table (mount/sdk/framework.py)."""

from datetime import timedelta

import pytest

from mount.sdk.errors import (
    InvalidRequestError,
    UnsupportedOperationError,
    UnsupportedPathError,
)
from mount.sdk.fields import Field, FieldData, FieldType, name_pattern
from mount.sdk.framework import Backend, Path, SpecialPaths
from mount.sdk.logical import Operation, Request, Response
from mount.sdk.testing import MemoryStorage


def _request(op, path, data=None):
    return Request(operation=op, path=path, data=data or {}, storage=MemoryStorage())


def _backend(calls, exists=False):
    async def write(req, d):
        calls.append((req.operation, d.get("name"), d.get("ttl")))
        return Response(data={"ttl": int(d.get("ttl").total_seconds())})

    async def read(req, d):
        calls.append((req.operation, d.get("name"), None))
        return Response(data={"name": d.get("name")})

    async def existence(req, d):
        return exists

    fields = {
        "name": Field(FieldType.NAME, "Name of the role."),
        "ttl": Field(FieldType.DURATION, "TTL in seconds.", default=60),
        "mode": Field(FieldType.STRING, "Mode.", default="rotate", allowed=("rotate", "exclusive")),
    }
    return Backend(
        [
            Path(
                f"roles/{name_pattern('name')}",
                {Operation.READ: read, Operation.CREATE: write, Operation.UPDATE: write},
                fields,
                existence_check=existence,
                help_synopsis="Manage roles.",
                help_description="Roles bind users.",
            )
        ]
    )


async def test_create_or_update_follows_existence_check():
    calls = []
    await _backend(calls, exists=False).handle(_request(Operation.UPDATE, "roles/a", {"ttl": "1m"}))
    await _backend(calls, exists=True).handle(_request(Operation.UPDATE, "roles/a", {"ttl": 5}))
    assert calls == [
        (Operation.CREATE, "a", timedelta(minutes=1)),
        (Operation.UPDATE, "a", timedelta(seconds=5)),
    ]


async def test_url_capture_wins_over_body_with_warning():
    calls = []
    response = await _backend(calls).handle(_request(Operation.UPDATE, "roles/a", {"name": "b"}))
    assert calls[0][1] == "a"
    assert any("replaced by the value in the URL path" in w for w in response.warnings)


async def test_unknown_fields_warn_rather_than_fail():
    response = await _backend([]).handle(_request(Operation.UPDATE, "roles/a", {"bogus": 1}))
    assert response.warnings == ["Endpoint ignored these unrecognized parameters: [bogus]"]


async def test_every_bad_field_is_reported_at_once():
    with pytest.raises(InvalidRequestError) as info:
        await _backend([]).handle(
            _request(Operation.UPDATE, "roles/a", {"ttl": "forever", "mode": "shared"})
        )
    errors = info.value.errors
    assert len(errors) == 2
    assert 'error converting input for field "ttl": time: invalid duration "forever"' in errors[0]
    assert 'field "mode"' in errors[1] and '"rotate"' in errors[1]


async def test_unknown_path_and_operation():
    backend = _backend([])
    with pytest.raises(UnsupportedPathError):
        await backend.handle(_request(Operation.READ, "nope/a"))
    with pytest.raises(UnsupportedOperationError):
        await backend.handle(_request(Operation.DELETE, "roles/a"))


async def test_help_describes_fields_and_openapi():
    response = await _backend([]).handle(_request(Operation.HELP, "roles/a"))
    assert response.data is not None
    assert "Request:        roles/a" in response.data["help"]
    assert "    ttl (duration (sec))" in response.data["help"]
    assert "/roles/{name}" in response.data["openapi"]["paths"]


def test_field_data_defaults_and_bools():
    schema = {
        "sync": Field(FieldType.BOOL, "Sync.", default=True),
        "n": Field(FieldType.INT, "N.", default=3),
        "items": Field(FieldType.STRING_LIST, "Items.", default=[]),
    }
    data = FieldData(schema, {"sync": "false", "items": "a, b"})
    assert data.get("sync") is False
    assert data.get("n") == 3
    assert data.get("items") == ["a", "b"]
    with pytest.raises(InvalidRequestError) as info:
        FieldData(schema, {"sync": "yes"})
    assert info.value.errors == [
        'Field validation failed: error converting input for field "sync": '
        "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax"
    ]


def test_routes_remembered_give_the_same_answer_and_stay_bounded():
    backend = _backend([], exists=True)
    first = backend.route("roles/a")
    again = backend.route("roles/a")
    assert first == again and first[1] == {"name": "a"}
    again[1]["name"] = "changed"  # a caller's copy: the remembered captures stay intact
    assert backend.route("roles/a")[1] == {"name": "a"}
    with pytest.raises(UnsupportedPathError):
        backend.route("nope/a")
    assert "nope/a" not in backend._routes  # unknown paths are not remembered
    for n in range(3000):
        assert backend.route(f"roles/r{n}")[1] == {"name": f"r{n}"}
    assert len(backend._routes) <= 1024


@pytest.mark.parametrize("suffix", ["\n", "\r\n", "/x", " ", "\x00"])
def test_a_path_matches_only_as_a_whole(suffix):
    """`$` in a pattern would let `roles/bob\\n` route as `roles/bob`."""
    backend = Backend([Path(f"roles/{name_pattern('name')}", {Operation.READ: _read_nothing})])
    assert backend.route("roles/bob")[1] == {"name": "bob"}
    with pytest.raises(UnsupportedPathError):
        backend.route("roles/bob" + suffix)


async def _read_nothing(req, d):
    return None


def test_special_path_globs_cover_the_folder_itself():
    """A LIST of `leases/lookup/` needs sudo like any deeper prefix (Vault's glob)."""
    special = SpecialPaths(sudo=("leases/lookup/*", "revoke-orphan"), unauthenticated=("health",))
    assert special.needs_sudo("leases/lookup/")
    assert special.needs_sudo("leases/lookup/entra/creds/")
    assert not special.needs_sudo("leases/lookup")  # the PUT lookup of one lease id
    assert special.needs_sudo("revoke-orphan") and special.needs_sudo("revoke-orphan/")
    assert not special.needs_sudo("revoke-orphan\n") and not special.needs_sudo("revoke-orphans")
    assert special.is_unauthenticated("health") and not special.is_unauthenticated("health\n")


async def test_errors_never_echo_a_sensitive_field():
    secret = "s.TopSecretValue42"

    async def fail(req, d):
        raise InvalidRequestError(f"no token {secret} here; also {d.get('name')}")

    backend = Backend(
        [
            Path(
                f"lookup/{name_pattern('name')}",
                {Operation.UPDATE: fail},
                {
                    "name": Field(FieldType.NAME, "A name."),
                    "token": Field(FieldType.STRING, "The token.", sensitive=True),
                    "uses": Field(FieldType.INT, "A count.", sensitive=True),
                    "kind": Field(FieldType.STRING, "A kind.", allowed=("a",), sensitive=True),
                },
            )
        ]
    )
    with pytest.raises(InvalidRequestError) as raised:
        await backend.handle(_request(Operation.UPDATE, "lookup/bob", {"token": secret}))
    assert raised.value.errors == ["no token <redacted> here; also bob"]
    assert secret not in str(raised.value)
    # The framework's own conversion and choice errors, and the ACL's existence probe.
    bad = {"uses": secret, "kind": secret + "x"}
    for call in (backend.handle, backend.write_operation):
        with pytest.raises(InvalidRequestError) as raised:
            await call(_request(Operation.UPDATE, "lookup/bob", bad))
        assert raised.value.errors and not any(secret in e for e in raised.value.errors)
        assert any("<redacted>" in e for e in raised.value.errors)


def test_canonical_path_folds_only_the_case_insensitive_captures():
    backend = Backend(
        [
            Path(
                f"role/{name_pattern('role_name')}/secret-id/{name_pattern('other')}",
                {Operation.READ: _read_nothing},
            )
        ],
        case_insensitive=("role_name",),
    )
    assert backend.canonical_path("role/MyRole/secret-id/KeepMe") == "role/myrole/secret-id/KeepMe"
    assert backend.canonical_path("nowhere/Else") == "nowhere/Else"
    assert Backend([]).canonical_path("Any/Path") == "Any/Path"


def test_a_bad_value_is_quoted_only_in_part_and_a_sensitive_one_not_at_all():
    schema = {
        "count": Field(FieldType.INT, "A count."),
        "secret": Field(FieldType.INT, "A secret.", sensitive=True),
    }
    huge = "x" * 5000 + "TAIL"
    secret = "s" * 100 + "HIDDEN"
    with pytest.raises(InvalidRequestError) as raised:
        FieldData(schema, {"count": huge, "secret": [secret]})
    count_error, secret_error = raised.value.errors
    assert len(count_error) < 200 and "TAIL" not in count_error and "xxx..." in count_error
    assert "s" * 10 not in secret_error and "HIDDEN" not in secret_error
    assert secret_error.endswith("""field "secret": expected type 'int'""")
