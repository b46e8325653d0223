"""CIDR blocks for address binding (mount/sdk/cidrs.py) and AppRole's metadata parsing."""

from __future__ import annotations

import pytest

from mount.auth.approle.path_secret_id import parse_metadata
from mount.sdk import InvalidRequestError
from mount.sdk.cidrs import address_in, invalid_blocks, normalize_blocks, subset_of


def test_blocks_are_checked_and_normalized():
    assert invalid_blocks(["10.0.0.0/8", "1.2.3.4", "::1/128", "10.0.0.300/8", "x"]) == [
        "10.0.0.300/8",
        "x",
    ]
    assert normalize_blocks(["10.1.2.3/8", "10.0.0.0/8", "1.2.3.4", " "]) == (
        "10.0.0.0/8",
        "1.2.3.4/32",
    )


def test_addresses_match_their_blocks_and_mapped_ipv4_counts_as_ipv4():
    assert address_in(["127.0.0.0/8"], "127.0.0.1")
    assert address_in(["127.0.0.0/8"], "::ffff:127.0.0.1")
    assert not address_in(["10.0.0.0/8"], "127.0.0.1")
    assert not address_in(["10.0.0.0/8"], "")  # no address known: never inside


def test_subsets():
    assert subset_of(["10.1.0.0/16", "10.2.3.4"], ["10.0.0.0/8"])
    assert not subset_of(["10.0.0.0/8"], ["10.1.0.0/16"])
    assert not subset_of(["::1/128"], ["10.0.0.0/8"])


def test_metadata_takes_an_object_its_json_or_pairs():
    assert parse_metadata({"a": "1"}) == {"a": "1"}
    assert parse_metadata('{"a": "1"}') == {"a": "1"}
    assert parse_metadata("a=1, b = 2") == {"a": "1", "b": "2"}
    assert parse_metadata("") == {}
    for bad in ('{"a": 1}', "{nope", "novalue", ["a"]):
        with pytest.raises(InvalidRequestError, match="failed to parse metadata"):
            parse_metadata(bad)
