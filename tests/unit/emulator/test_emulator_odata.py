"""The OData options of the emulator's user list: $select, $filter, $top, $skiptoken."""

from __future__ import annotations

import pytest

from emulator.odata import (
    make_skiptoken,
    parse_filter,
    parse_select,
    parse_skiptoken,
    parse_top,
    render_user,
)
from emulator.responses import GraphProblem
from emulator.settings import EmulatorSettings
from emulator.state import TenantState


@pytest.fixture
def users():
    state = TenantState(
        EmulatorSettings(
            tenant_id="t",
            client_id="c",
            client_secret="s",
            users=["alice@example.test", "o'neil@example.test", "bob@other.test"],
        )
    )
    state.find_user("bob@other.test").account_enabled = False
    return state.users()


def _upns(users, flt):
    keep = parse_filter(flt)
    return [u.user_principal_name for u in users if keep(u)]


def test_filters(users):
    assert _upns(users, None) == [u.user_principal_name for u in users]
    assert _upns(users, "userPrincipalName eq 'ALICE@EXAMPLE.TEST'") == ["alice@example.test"]
    assert _upns(users, "userprincipalname EQ 'o''neil@example.test'") == ["o'neil@example.test"]
    assert _upns(users, "startswith(userPrincipalName,'O''')") == ["o'neil@example.test"]
    assert _upns(users, "startswith(mail, 'bob')") == ["bob@other.test"]
    assert _upns(users, "accountEnabled eq false") == ["bob@other.test"]
    assert _upns(users, f"id eq '{users[0].id.upper()}'") == ["alice@example.test"]


@pytest.mark.parametrize(
    "flt",
    [
        "userPrincipalName ne 'x'",
        "endswith(userPrincipalName,'x')",
        "userPrincipalName eq 'a' or userPrincipalName eq 'b'",
        "jobTitle eq 'x'",
        "userPrincipalName eq x",
    ],
)
def test_unsupported_filters(users, flt):
    with pytest.raises(GraphProblem) as caught:
        parse_filter(flt)
    assert (caught.value.status, caught.value.code) == (400, "BadRequest")
    assert caught.value.message == "Invalid filter clause"


def test_select(users):
    assert parse_select(None) is None
    assert parse_select("DisplayName, mail,,id") == ["id", "displayName", "mail"]
    assert render_user(users[0], ["id", "mail"]) == {"id": users[0].id, "mail": users[0].mail}
    assert render_user(users[0], ["passwordProfile", "id"]) == {
        "passwordProfile": None,
        "id": users[0].id,
    }
    with pytest.raises(GraphProblem):
        parse_select("id,shoeSize")


def test_top_and_skiptoken():
    assert parse_top(None) == 100 and parse_top("999") == 999
    for bad in ("0", "1000", "-1", "x"):
        with pytest.raises(GraphProblem):
            parse_top(bad)
    assert parse_skiptoken(None) == 0
    assert parse_skiptoken(make_skiptoken(250)) == 250
    for bad in ("garbage!", make_skiptoken(-5), "ZW11MTp4"):
        with pytest.raises(GraphProblem):
            parse_skiptoken(bad)
