"""Token creation, lookup and renewal rules, as Vault's token store and AppRole enforce them.

Each test drives the real `bao` CLI, hvac or raw HTTP against a whole broker: who may
create root, periodic or orphan tokens, what a use-limited or CIDR-bound parent passes on,
how the system `max_lease_ttl` caps TTLs, and how an AppRole token's renewal asks its role.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import hvac
import pytest

from mount.core import CoreSettings
from tests.broker_thread import ROOT_TOKEN, BrokerThread
from tests.e2e.conftest import HTTP_TIMEOUT, Api, Bao, Run, bao_binary, make_client

HOUR = 3600


def ok(run: Run) -> Run:
    assert run.code == 0, f"exit {run.code}\nstdout:\n{run.stdout}\nstderr:\n{run.stderr}"
    return run


def refused(run: Run, status: int, sentence: str) -> None:
    """The CLI failed with Vault's API error of `status` holding `sentence`."""
    assert run.code == 2, run
    assert f"Code: {status}. Errors:" in run.stderr, run.stderr
    assert f"* {sentence}" in run.stderr, run.stderr


def new_token(bao: Bao, *args: str, token: str = ROOT_TOKEN) -> dict[str, Any]:
    return json.loads(ok(bao("token", "create", "-format=json", *args, token=token)).stdout)


def write_policy(api: Api, name: str, text: str) -> None:
    answer = api.request("PUT", f"sys/policies/acl/{name}", json={"policy": text})
    assert answer.status_code == 204, answer.text


def errors(response: httpx.Response, status: int) -> list[str]:
    assert response.status_code == status, response.text
    return list(response.json()["errors"])


CREATOR = 'path "auth/token/create" { capabilities = ["update"] }\n'
SUDO_CREATOR = 'path "auth/token/create" { capabilities = ["update", "sudo"] }\n'


# -- who may create what (points 2, 3, 4) ---------------------------------------------------


def test_a_sudo_token_that_is_not_root_cannot_create_a_root_token(bao: Bao, api: Api) -> None:
    write_policy(api, "minter", SUDO_CREATOR)
    minter = new_token(bao, "-policy=minter")["auth"]["client_token"]
    refused(
        bao("token", "create", "-policy=root", token=minter),
        400,
        "root tokens may not be created without parent token being root",
    )
    # Sudo still lets it create tokens beyond its own policies, as in Vault.
    assert new_token(bao, "-policy=other", token=minter)["auth"]["policies"] == [
        "default",
        "other",
    ]
    # The root token may create root tokens.
    assert new_token(bao, "-policy=root")["auth"]["policies"] == ["root"]


def test_periodic_orphan_and_custom_id_tokens_need_root_or_sudo(bao: Bao, api: Api) -> None:
    write_policy(api, "creator", CREATOR)
    write_policy(api, "minter", SUDO_CREATOR)
    creator = new_token(bao, "-policy=creator")["auth"]["client_token"]
    minter = new_token(bao, "-policy=minter")["auth"]["client_token"]

    refused(
        bao("token", "create", "-policy=creator", "-period=1h", token=creator),
        400,
        "root or sudo privileges required to create periodic token",
    )
    orphan = api.request("PUT", "auth/token/create", json={"no_parent": True}, token=creator)
    assert errors(orphan, 400) == ["root or sudo privileges required to create orphan token"]
    answer = api.request("PUT", "auth/token/create", json={"id": "s.chosen"}, token=creator)
    assert errors(answer, 400) == ["root or sudo privileges required to specify token id"]

    periodic = new_token(bao, "-policy=minter", "-period=1h", token=minter)["auth"]
    assert periodic["lease_duration"] == HOUR and periodic["renewable"] is True
    assert new_token(bao, "-period=30m")["auth"]["lease_duration"] == 1800  # root


def test_a_use_limited_token_cannot_create_children(bao: Bao, api: Api) -> None:
    limited = new_token(bao, "-policy=root", "-use-limit=5")["auth"]["client_token"]
    refused(
        bao("token", "create", "-policy=default", token=limited),
        400,
        "restricted use token cannot generate child tokens",
    )
    # On its very last use too (the store already counts it as spent).
    last = new_token(bao, "-policy=root", "-use-limit=1")["auth"]["client_token"]
    answer = api.request("PUT", "auth/token/create", json={"policies": ["default"]}, token=last)
    assert errors(answer, 400) == ["restricted use token cannot generate child tokens"]

    negative = api.request("PUT", "auth/token/create", json={"num_uses": -1})
    assert errors(negative, 400) == ["number of uses cannot be negative"]
    fine = new_token(bao, "-use-limit=2", "-policy=default")["auth"]["client_token"]
    assert (
        json.loads(ok(bao("token", "lookup", "-format=json", fine)).stdout)["data"]["num_uses"] == 2
    )


# -- bound CIDRs pass to children (point 5) -------------------------------------------------


def from_address(broker: BrokerThread, address: str, token: str) -> httpx.Response:
    """lookup-self sent from a chosen loopback source address."""
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, trust_env=False, timeout=HTTP_TIMEOUT) as http:
        return http.get(f"{broker.url}/v1/auth/token/lookup-self", headers={"X-Vault-Token": token})


def test_children_inherit_the_parents_bound_cidrs(broker: BrokerThread, api: Api) -> None:
    root = make_client(broker)
    root.sys.enable_auth_method("approle")
    write_policy(api, "creator", CREATOR)
    root.auth.approle.create_or_update_approle(
        "bound", token_policies=["creator"], token_bound_cidrs=["127.0.0.1/32"]
    )
    role_id = root.auth.approle.read_role_id("bound")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("bound")["data"]["secret_id"]
    parent = hvac.Client(url=broker.url, timeout=HTTP_TIMEOUT)
    parent.auth.approle.login(role_id, secret_id)
    assert from_address(broker, "127.0.0.2", parent.token).status_code == 403

    child = parent.auth.token.create(policies=["creator"])["auth"]["client_token"]
    looked = from_address(broker, "127.0.0.1", child)
    assert looked.status_code == 200, looked.text
    assert looked.json()["data"]["bound_cidrs"] == ["127.0.0.1/32"]
    denied = from_address(broker, "127.0.0.2", child)
    assert errors(denied, 403) == ["permission denied"]

    # A root parent without CIDRs passes none on.
    free = make_client(broker).auth.token.create(policies=["default"])["auth"]["client_token"]
    assert from_address(broker, "127.0.0.2", free).status_code == 200


# -- TTLs within the system max_lease_ttl (point 6) ----------------------------------------


@pytest.fixture
def short_max(tmp_path: Path) -> Iterator[BrokerThread]:
    """A broker whose system max_lease_ttl is one hour (default TTL half an hour)."""
    settings = CoreSettings().with_leases(default_lease_ttl=HOUR // 2, max_lease_ttl=HOUR)
    thread = BrokerThread(tmp_path / "short", settings=settings).start()
    yield thread
    thread.stop()


def test_token_ttls_are_capped_by_the_system_max_with_vaults_warning(
    short_max: BrokerThread, tmp_path: Path
) -> None:
    home = tmp_path / "bao-home"
    home.mkdir()
    bao = Bao(short_max.url, home, bao_binary())
    created = new_token(bao, "-policy=default", "-ttl=5h")
    assert created["auth"]["lease_duration"] == HOUR
    assert created["warnings"] == [
        'TTL of "5h" exceeded the effective max_ttl of "1h"; TTL value is capped accordingly'
    ]
    # Without a ttl, the system default (Vault's default_lease_ttl), with no warning.
    plain = new_token(bao, "-policy=default")
    assert (plain["auth"]["lease_duration"], plain["warnings"]) == (HOUR // 2, None)
    # An explicit max above the system max is capped to it, stored capped, with Vault's
    # warning; renewals stop at one hour.
    capped = new_token(bao, "-policy=default", "-ttl=10m", "-explicit-max-ttl=10h")
    assert capped["warnings"] == [
        "Explicit max TTL of 36000 seconds is greater than system/mount allowed value; "
        "value is being capped to 3600 seconds"
    ]
    explicit = capped["auth"]
    stored = json.loads(ok(bao("token", "lookup", "-format=json", explicit["client_token"])).stdout)
    assert stored["data"]["explicit_max_ttl"] == HOUR
    renewed = json.loads(
        ok(bao("token", "renew", "-format=json", "-increment=5h", explicit["client_token"])).stdout
    )
    assert HOUR - 5 <= renewed["auth"]["lease_duration"] <= HOUR
    assert renewed["warnings"][0].startswith('TTL of "5h" exceeded the effective max_ttl of')

    # A ttl above the explicit max is cut to it, in Vault's words for tokens.
    above = new_token(bao, "-policy=default", "-ttl=40m", "-explicit-max-ttl=20m")
    assert above["auth"]["lease_duration"] == 20 * 60
    assert above["warnings"] == [
        "Requested TTL of 2400 seconds higher than explicit max TTL; "
        "value being capped to 1200 seconds"
    ]

    periodic = new_token(bao, "-policy=default", "-period=5h")
    assert periodic["auth"]["lease_duration"] == HOUR
    assert periodic["warnings"] == [
        'period of "5h" exceeded the effective max_ttl of "1h"; period value is capped accordingly'
    ]
    again = json.loads(
        ok(bao("token", "renew", "-format=json", periodic["auth"]["client_token"])).stdout
    )
    assert again["auth"]["lease_duration"] == HOUR
    looked = json.loads(
        ok(bao("token", "lookup", "-format=json", periodic["auth"]["client_token"])).stdout
    )
    assert looked["data"]["period"] == 5 * HOUR  # as asked, as Vault records it


def test_an_approle_period_above_a_lowered_system_max_is_capped(tmp_path: Path) -> None:
    # The role is written under the default max (768h); the operator then lowers it.
    with BrokerThread(tmp_path / "data") as before:
        root = make_client(before)
        root.sys.enable_auth_method("approle")
        root.auth.approle.create_or_update_approle("long", token_period="5h")
        role_id = root.auth.approle.read_role_id("long")["data"]["role_id"]
        secret_id = root.auth.approle.generate_secret_id("long")["data"]["secret_id"]
    settings = CoreSettings().with_leases(default_lease_ttl=HOUR // 2, max_lease_ttl=HOUR)
    with BrokerThread(tmp_path / "data", settings=settings) as after:
        app = hvac.Client(url=after.url, timeout=HTTP_TIMEOUT)
        answer = app.auth.approle.login(role_id, secret_id)
        assert answer["auth"]["lease_duration"] == HOUR
        assert answer["warnings"] == [
            'period of "5h" exceeded the effective max_ttl of "1h"; period value is capped '
            "accordingly"
        ]
        assert app.auth.token.renew_self()["auth"]["lease_duration"] == HOUR


# -- AppRole renewal asks the role (point 7) ------------------------------------------------


def approle_token(broker: BrokerThread, role: str, **settings: Any) -> tuple[hvac.Client, Api]:
    root = make_client(broker)
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    root.auth.approle.create_or_update_approle(role, **settings)
    role_id = root.auth.approle.read_role_id(role)["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id(role)["data"]["secret_id"]
    app = hvac.Client(url=broker.url, timeout=HTTP_TIMEOUT)
    app.auth.approle.login(role_id, secret_id)
    return app, Api(broker.url, app.token)


def test_an_approle_token_is_not_renewed_once_its_role_is_gone(broker: BrokerThread) -> None:
    app, api = approle_token(broker, "web", token_policies=["web"], token_ttl="10m")
    assert app.auth.token.renew_self()["auth"]["lease_duration"] == 600
    make_client(broker).auth.approle.delete_role("web")
    answer = api.request("PUT", "auth/token/renew-self", json={})
    assert errors(answer, 400) == [
        'failed to renew entry: role "web" does not exist during renewal'
    ]
    # By another token (auth/token/renew) the same.
    by_root = Api(broker.url).request("PUT", "auth/token/renew", json={"token": app.token})
    assert errors(by_root, 400) == [
        'failed to renew entry: role "web" does not exist during renewal'
    ]
    # The token itself still works until its TTL runs out, as in Vault.
    assert api.request("GET", "auth/token/lookup-self").status_code == 200


def test_an_approle_token_is_not_renewed_once_its_roles_policies_changed(
    broker: BrokerThread,
) -> None:
    app, api = approle_token(broker, "svc", token_policies=["a", "b"], token_ttl="10m")
    root = make_client(broker)
    # The same policies in another order, or with `default` named, are no change.
    root.auth.approle.create_or_update_approle("svc", token_policies=["b", "default", "a"])
    assert app.auth.token.renew_self()["auth"]["lease_duration"] == 600
    root.auth.approle.create_or_update_approle("svc", token_policies=["a"])
    answer = api.request("PUT", "auth/token/renew-self", json={})
    assert errors(answer, 400) == ["failed to renew entry: policies have changed, not renewing"]


def test_an_approle_renewal_uses_the_roles_current_ttls(broker: BrokerThread) -> None:
    app, _ = approle_token(broker, "ttl", token_ttl="10m", token_max_ttl="1h")
    root = make_client(broker)
    root.auth.approle.create_or_update_approle("ttl", token_ttl="2m", token_max_ttl="1h")
    assert app.auth.token.renew_self()["auth"]["lease_duration"] == 120
    root.auth.approle.create_or_update_approle("ttl", token_ttl="1m", token_max_ttl="90s")
    renewed = app.auth.token.renew_self(increment=3600)
    assert 80 <= renewed["auth"]["lease_duration"] <= 90
    assert "exceeded the effective max_ttl" in renewed["warnings"][0]


# -- lookups (point 25) and meta (point 15) --------------------------------------------------


def test_lookup_of_an_unknown_or_revoked_token_is_403_bad_token(bao: Bao, api: Api) -> None:
    unknown = api.request("PUT", "auth/token/lookup", json={"token": "s.nosuchtoken00000000000000"})
    assert errors(unknown, 403) == ["bad token"]
    child = new_token(bao, "-policy=default")["auth"]["client_token"]
    ok(bao("token", "revoke", child))
    refused(bao("token", "lookup", child), 403, "bad token")
    by_get = api.request("GET", f"auth/token/lookup?token={child}")
    assert errors(by_get, 403) == ["bad token"]
    # Renewing one is Vault's 400 "token not found".
    renew = api.request("PUT", "auth/token/renew", json={"token": child})
    assert errors(renew, 400) == ["token not found"]
    # Without a token in the body, lookup looks up the caller, as Vault's.
    assert api.request("PUT", "auth/token/lookup", json={}).json()["data"]["id"] == ROOT_TOKEN


def test_a_periodic_tokens_lookup_carries_its_period(bao: Bao) -> None:
    periodic = new_token(bao, "-policy=default", "-period=1h")["auth"]["client_token"]
    data = json.loads(ok(bao("token", "lookup", "-format=json", periodic)).stdout)["data"]
    assert data["period"] == HOUR
    # In Vault's (sorted) field order: between `path` and `policies`.
    keys = list(data)
    assert keys.index("path") + 1 == keys.index("period") == keys.index("policies") - 1
    plain = new_token(bao, "-policy=default")["auth"]["client_token"]
    assert (
        "period" not in json.loads(ok(bao("token", "lookup", "-format=json", plain)).stdout)["data"]
    )


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


@pytest.mark.parametrize(
    ("meta", "bad_key"),
    [
        ({"team": {"name": "ops"}}, "team"),
        ({"team": "ops", "count": 3}, "count"),
        ({"list": ["a"]}, "list"),
        # Shallower than the JSON edge's depth limit (100), so meta's own check refuses it.
        ({"deep": nested(20)}, "deep"),
    ],
)
def test_token_meta_must_map_strings_to_strings(api: Api, meta: Any, bad_key: str) -> None:
    answer = api.request("PUT", "auth/token/create", json={"policies": ["default"], "meta": meta})
    (sentence,) = errors(answer, 400)
    assert sentence.startswith('"meta" must be a map of strings to strings'), sentence
    assert f'"{bad_key}"' in sentence
    assert api.request("GET", "auth/token/accessors?list=true").json()["data"]["keys"] == [
        api.request("GET", "auth/token/lookup-self").json()["data"]["accessor"]
    ]  # nothing was created


def test_string_meta_is_kept(bao: Bao) -> None:
    created = new_token(bao, "-policy=default", "-metadata=team=ops", "-metadata=env=dev")
    assert created["auth"]["metadata"] == {"env": "dev", "team": "ops"}


def test_meta_nested_deeper_than_the_decoder_allows_is_a_400(api: Api) -> None:
    depth = 5000
    body = '{"meta": {"a": ' + '{"k": ' * depth + '"x"' + "}" * depth + "}}"
    answer = api.request("PUT", "auth/token/create", content=body)
    assert answer.status_code == 400, answer.text
    assert "Traceback" not in answer.text and answer.json()["errors"]
