"""ACL policies: parsing Vault's HCL, and which rule decides a path (Vault's order)."""

from __future__ import annotations

import pytest

from mount.policy.acl import ACL, capability_of
from mount.policy.language import DEFAULT_POLICY, parse_policy, valid_policy_name
from mount.sdk.errors import InvalidRequestError
from mount.sdk.logical import Operation


def acl(*texts: str) -> ACL:
    return ACL(parse_policy(f"p{i}", text) for i, text in enumerate(texts))


def test_a_policy_parses_into_rules_with_capabilities():
    policy = parse_policy(
        "app",
        """
        # a comment
        path "entra/creds/alice" { capabilities = ["read"] }
        path "/entra/roles/*" {
          capabilities = ["read", "list"]
        }
        """,
    )
    rules = {rule.pattern: sorted(rule.capabilities) for rule in policy.rules}
    assert rules == {"entra/creds/alice": ["read"], "entra/roles/*": ["list", "read"]}


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        ("read", {"read", "list"}),
        ("write", {"create", "read", "update", "patch", "delete", "list"}),
        ("sudo", {"create", "read", "update", "patch", "delete", "list", "sudo"}),
    ],
)
def test_the_older_policy_shorthand_expands(legacy, expected):
    (rule,) = parse_policy("x", f'path "a" {{ policy = "{legacy}" }}').rules
    assert rule.capabilities == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('path "a" { capabilities = ["reed"] }', 'invalid capability "reed"'),
        ('path "a/*/b" { capabilities = ["read"] }', '"*" may only end a path'),
        ('path "a" { capabilities = ["read"]', "HCL syntax error"),
        ('path "a" { allowed_parameters = { x = [] } }', "allowed_parameters is not supported"),
        ('path "a" {\n capabilities = ["read"]\n colour = "red"\n}', 'unknown key "colour"'),
        ('path "a" { }', "capabilities = [...] is required"),
        ('paths "a" { capabilities = ["read"] }', 'unknown key "paths"'),
        ('path "a" { policy = "admin" }', 'invalid policy "admin"'),
        ('path "a" { capabilities = "read" }', "capabilities must be a list"),
    ],
)
def test_bad_policies_are_refused_with_what_to_fix(text, message):
    with pytest.raises(InvalidRequestError) as caught:
        parse_policy("bad", text)
    assert caught.value.status == 400
    assert caught.value.message.startswith("failed to parse policy: ")
    assert message in caught.value.message


def test_every_problem_is_named_at_once():
    text = 'path "a" { capabilities = ["reed"] }\npath "b/*/c" { capabilities = ["read"] }'
    with pytest.raises(InvalidRequestError) as caught:
        parse_policy("bad", text)
    assert '"reed"' in caught.value.message and "b/*/c" in caught.value.message


@pytest.mark.parametrize(
    ("path", "caps"),
    [
        ("entra/creds/alice", ["read"]),  # the exact rule beats every glob
        ("entra/creds/bob", ["read", "update"]),  # the longer glob beats the shorter one
        ("entra/creds/", ["read", "update"]),
        ("entra/roles/alice", ["list"]),  # + matches one segment...
        ("entra/roles/alice/x", ["create"]),  # ...not two: the glob decides
        ("entra/config", ["create"]),
        ("entra", ["deny"]),  # "entra/*" needs the slash
        ("sys/leases/renew", ["deny"]),
    ],
)
def test_the_most_specific_rule_decides(path, caps):
    rules = acl(
        """
        path "entra/*" { capabilities = ["create"] }
        path "entra/creds/*" { capabilities = ["read", "update"] }
        path "entra/creds/alice" { capabilities = ["read"] }
        path "entra/+/alice" { capabilities = ["list"] }
        """
    )
    assert rules.listed(path) == caps


def test_vaults_priority_order_between_wildcards():
    rules = acl(
        """
        path "a/+/c/*" { capabilities = ["read"] }
        path "a/b/*" { capabilities = ["list"] }
        path "a/+/+" { capabilities = ["delete"] }
        path "a/b/+" { capabilities = ["update"] }
        """
    )
    # The first wildcard comes later in a/b/*, a/b/+ than in a/+/...: those win.
    assert rules.listed("a/b/c/d") == ["list"]
    # Between a/b/* and a/b/+: the one not ending in * wins.
    assert rules.listed("a/b/c") == ["update"]
    assert rules.listed("a/x/c") == ["delete"]  # only a/+/+ matches
    assert rules.listed("a/x/c/d") == ["read"]


def test_deny_wins_within_a_rule_and_rules_merge_across_policies():
    rules = acl(
        'path "entra/creds/*" { capabilities = ["read"] }',
        'path "entra/creds/*" { capabilities = ["list"] }\n'
        'path "entra/creds/admin" { capabilities = ["deny"] }',
        'path "entra/creds/admin" { capabilities = ["read"] }',
    )
    assert rules.listed("entra/creds/alice") == ["list", "read"]
    assert rules.listed("entra/creds/admin") == ["deny"]
    assert not rules.allows("entra/creds/admin", "read")


def test_root_allows_everything_and_says_root():
    root = ACL((), root=True)
    assert root.listed("anything/at/all") == ["root"]
    assert root.allows("sys/leases/revoke-force/x", "sudo")


def test_the_default_policy_lets_a_token_manage_itself_only():
    rules = acl(DEFAULT_POLICY)
    assert rules.allows("auth/token/lookup-self", "read")
    assert rules.allows("auth/token/renew-self", "update")
    assert rules.allows("sys/leases/renew", "update")
    assert rules.allows("sys/capabilities-self", "update")
    assert rules.listed("entra/creds/alice") == ["deny"]
    assert rules.listed("auth/token/create") == ["deny"]


def test_operations_map_to_capabilities():
    assert capability_of(Operation.READ) == "read"
    assert capability_of(Operation.LIST) == "list"
    assert capability_of(Operation.DELETE) == "delete"
    assert capability_of(Operation.CREATE) == "create"
    assert capability_of(Operation.UPDATE) == "update"
    assert capability_of(Operation.HELP) is None


def test_policy_names_are_lowercased_and_checked():
    assert valid_policy_name("Entra-Reader") == "entra-reader"
    with pytest.raises(InvalidRequestError):
        valid_policy_name("../x")


@pytest.mark.parametrize(
    ("rule", "prefix", "reaches"),
    [
        ('path "entra/creds/alice" { capabilities = ["read"] }', "entra/", True),
        ('path "entra/*" { capabilities = ["read"] }', "entra/", True),
        ('path "ent*" { capabilities = ["read"] }', "entra/", True),  # a glob covering it
        ('path "+/creds/alice" { capabilities = ["read"] }', "entra/", True),
        ('path "other/*" { capabilities = ["read"] }', "entra/", False),
        ('path "entra/creds/alice" { capabilities = ["deny"] }', "entra/", False),
        ('path "sys/leases/renew" { capabilities = ["update"] }', "entra/", False),
    ],
)
def test_reaching_under_a_mount_for_the_ui_preflight(rule, prefix, reaches):
    assert acl(rule).reaches_under(prefix) is reaches
