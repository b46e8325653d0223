"""Policy documents as clients send them: JSON (hvac, Terraform's jsonencode) and non-ASCII.

Vault parses a policy as JSON when its first non-blank character is `{` (HCL's JSON form)
and as HCL otherwise; both forms get the same checks and the same sentences.
"""

from __future__ import annotations

import json

import pytest

from mount.policy.language import parse_policy
from mount.sdk.errors import InvalidRequestError

HCL = """
path "entra/creds/*" {
  capabilities = ["read"]
}
path "entra/creds/bob" {
  capabilities = ["deny"]
}
"""
RULES = {"entra/creds/*": ["read"], "entra/creds/bob": ["deny"]}
MAP_FORM = {
    "path": {
        "entra/creds/*": {"capabilities": ["read"]},
        "entra/creds/bob": {"capabilities": ["deny"]},
    }
}
LIST_FORM = {
    "path": [
        {"entra/creds/*": {"capabilities": ["read"]}},
        {"entra/creds/bob": {"capabilities": ["deny"]}},
    ]
}


def rules(text: str) -> dict[str, list[str]]:
    return {rule.pattern: sorted(rule.capabilities) for rule in parse_policy("p", text).rules}


def refusal(text: str) -> str:
    with pytest.raises(InvalidRequestError) as caught:
        parse_policy("bad", text)
    assert caught.value.status == 400
    assert caught.value.message.startswith("failed to parse policy: "), caught.value.message
    return caught.value.message


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(MAP_FORM),
        json.dumps(LIST_FORM),
        json.dumps(MAP_FORM, indent=4, sort_keys=True),  # what hvac sends for a dict
        "\n  \t" + json.dumps(LIST_FORM) + "\n",
        json.dumps({"name": "p", **MAP_FORM}),
    ],
    ids=["map", "list", "hvac", "blank-around", "with-name"],
)
def test_a_json_policy_gives_the_rules_of_the_same_hcl(text: str) -> None:
    assert rules(HCL) == RULES
    policy = parse_policy("p", text)
    assert rules(text) == RULES
    assert policy.text == text  # stored and served back as written


def test_the_older_shorthand_and_merging_work_in_json_too() -> None:
    text = json.dumps(
        {
            "path": [
                {"a": {"policy": "read"}},
                {"a": {"capabilities": ["update"]}},
                {"b/+/c": {"capabilities": ["list"]}},
            ]
        }
    )
    assert rules(text) == {"a": ["list", "read", "update"], "b/+/c": ["list"]}


# Each bad document in both forms, and the sentence both must give.
BAD = [
    (
        {"path": {"a": {"capabilities": ["reed"]}}},
        'path "a" { capabilities = ["reed"] }',
        'invalid capability "reed"',
    ),
    (
        {"path": {"a/*/b": {"capabilities": ["read"]}}},
        'path "a/*/b" { capabilities = ["read"] }',
        'path "a/*/b": "*" may only end a path',
    ),
    (
        {"path": {"a": {"allowed_parameters": {"x": []}}}},
        'path "a" { allowed_parameters = { x = [] } }',
        'path "a": allowed_parameters is not supported by entra-broker; remove it',
    ),
    (
        {"path": {"a": {"capabilities": ["read"], "colour": "red"}}},
        'path "a" {\n capabilities = ["read"]\n colour = "red"\n}',
        'path "a": unknown key "colour"',
    ),
    ({"path": {"a": {}}}, 'path "a" { }', 'path "a": capabilities = [...] is required'),
    (
        {"paths": {"a": {"capabilities": ["read"]}}},
        'paths "a" { capabilities = ["read"] }',
        'unknown key "paths"',
    ),
    (
        {"path": {"a": {"policy": "admin"}}},
        'path "a" { policy = "admin" }',
        'path "a": invalid policy "admin"',
    ),
    (
        {"path": {"a": {"capabilities": "read"}}},
        'path "a" { capabilities = "read" }',
        'path "a": capabilities must be a list of strings',
    ),
    (
        {"path": {"a": {"policy": ["read"]}}},
        'path "a" { policy = ["read"] }',
        'path "a": invalid policy (not a string); use deny, read, write, sudo',
    ),
    (
        {"path": {"a": {"capabilities": [1]}}},
        'path "a" { capabilities = [1] }',
        'path "a": capabilities must be a list of strings',
    ),
]


@pytest.mark.parametrize(
    ("document", "hcl", "sentence"),
    BAD,
    ids=[
        "capability",
        "wildcard",
        "unsupported",
        "unknown-rule-key",
        "empty",
        "unknown-top-key",
        "shorthand",
        "capabilities-string",
        "shorthand-list",
        "capabilities-number",
    ],
)
def test_bad_json_gets_the_sentence_bad_hcl_gets(document: dict, hcl: str, sentence: str) -> None:
    assert sentence in refusal(hcl)
    assert sentence in refusal(json.dumps(document))


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        (
            '{"path": {"a": {"capabilities": ["read"]}}',
            'JSON syntax error in policy "bad" at line 1',
        ),
        ('{"path": {"a": {"capabilities": ["read"],}}}', "JSON syntax error"),
        ('{\n  "path": ', 'JSON syntax error in policy "bad" at line 2'),
        ('{"path": "entra/creds/*"}', "each path block needs its path"),
        ('{"path": {"a": ["read"]}}', 'path "a" must be a block'),
        ('{"path": [1]}', "each path block needs its path"),
        ('{"path": {"a": {"capabilities": [' + "1" * 5000 + "]}}}", "cannot be read"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "cannot be read: it is nested too deeply"),
    ],
    ids=["unclosed", "comma", "eof", "string", "list", "number", "long-number", "deep"],
)
def test_broken_json_is_refused_with_where_it_breaks(text: str, sentence: str) -> None:
    assert sentence in refusal(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"path": {"a": {"capabilities": ["deny"]}, "a": {"capabilities": ["read"]}}}',
        '{"path": {"a": {"capabilities": ["read"]}}, "path": {"b": {"capabilities": ["read"]}}}',
        '{"path": {"a": {"capabilities": ["deny"], "capabilities": ["read"]}}}',
    ],
    ids=["rule", "top", "capabilities"],
)
def test_a_repeated_json_key_is_refused_never_half_read(text: str) -> None:
    # A JSON decoder keeps the last of two equal keys: a deny could silently vanish.
    message = refusal(text)
    assert "appears twice" in message and "JSON" in message


@pytest.mark.parametrize(
    "text",
    [
        '# owner: José\npath "entra/creds/*" { capabilities = ["read"] }\n',
        'path "entra/creds/josé" {\n  # Zoë’s team — ✓\n  capabilities = ["read"]\n}\n',
        '{"path": {"entra/creds/josé": {"capabilities": ["read"]}}, "name": "Zoë"}',
    ],
    ids=["comment", "rule", "json"],
)
def test_non_ascii_text_parses_and_is_kept_as_written(text: str) -> None:
    policy = parse_policy("p", text)
    assert policy.text == text
    assert policy.rules
