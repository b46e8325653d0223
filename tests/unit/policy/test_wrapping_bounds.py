"""Vault's min_wrapping_ttl / max_wrapping_ttl: parsed, merged across policies, checked."""

from __future__ import annotations

import pytest

from mount.policy.acl import ACL
from mount.policy.language import parse_policy
from mount.sdk.errors import InvalidRequestError


def _policy(name: str, body: str) -> object:
    return parse_policy(name, f'path "a/*" {{\n capabilities = ["read"]\n {body}\n}}')


def test_a_max_requires_wrapping_within_it_and_a_min_a_ttl_above_it():
    acl = ACL([_policy("p", 'min_wrapping_ttl = "60s"\n max_wrapping_ttl = "10m"')])
    assert not acl.wrapping_allows("a/x", 0)
    assert not acl.wrapping_allows("a/x", 59)
    assert acl.wrapping_allows("a/x", 60) and acl.wrapping_allows("a/x", 600)
    assert not acl.wrapping_allows("a/x", 601)
    assert acl.wrapping_allows("b/x", 0)  # no rule: nothing bounds it (the ACL denies)


def test_a_min_alone_allows_no_wrapping_at_all_only_short_ones_are_refused():
    acl = ACL([_policy("p", "min_wrapping_ttl = 120")])
    assert not acl.wrapping_allows("a/x", 60) and acl.wrapping_allows("a/x", 120)


def test_policies_on_one_path_merge_to_the_lower_bounds():
    acl = ACL([_policy("p", 'max_wrapping_ttl = "1h"'), _policy("q", 'max_wrapping_ttl = "5m"')])
    assert acl.wrapping_allows("a/x", 300) and not acl.wrapping_allows("a/x", 301)


def test_bad_bounds_are_refused_with_a_sentence():
    with pytest.raises(InvalidRequestError, match="max_wrapping_ttl cannot be less than"):
        _policy("p", 'min_wrapping_ttl = "1h"\n max_wrapping_ttl = "1m"')
    with pytest.raises(InvalidRequestError, match="error parsing min_wrapping_ttl"):
        _policy("p", 'min_wrapping_ttl = "soon"')


def test_root_is_never_bounded():
    assert ACL((), root=True).wrapping_allows("a/x", 0)
