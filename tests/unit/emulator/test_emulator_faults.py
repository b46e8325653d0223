"""The fault book: validation, matching order, counts and fractions."""

from __future__ import annotations

import pytest

from emulator.faults import DEFAULT_HOLD_SECONDS, FaultBook, FaultSpecError


def test_a_counted_fault_is_used_up_then_removed():
    book = FaultBook()
    fault = book.add({"match": "PATCH /v1.0/users/", "status": 429, "retry_after": 2, "count": 2})
    assert fault.retry_after_header() == "2"
    assert book.pick("GET", "/v1.0/users/x") is None
    assert book.pick("PATCH", "/v1.0/users/x") is fault
    assert book.pick("patch", "/v1.0/users/y") is fault
    assert book.pick("PATCH", "/v1.0/users/x") is None
    assert book.active() == [] and fault.hits == 2


def test_first_matching_fault_wins_and_unlimited_ones_stay():
    book = FaultBook()
    first = book.add({"status": 500, "count": 1})
    second = book.add({"match": "token", "latency_ms": 50})
    assert book.pick("POST", "/t/oauth2/v2.0/token") is first
    assert [book.pick("POST", "/t/oauth2/v2.0/token") for _ in range(3)] == [second] * 3
    assert second.remaining is None and second.timeout is False
    assert second.hold_seconds == DEFAULT_HOLD_SECONDS


def test_fractions_are_deterministic_and_let_others_match():
    book = FaultBook()
    third = book.add({"status": 503, "fraction": 1 / 3})
    fallback = book.add({"status": 500})
    picked = [book.pick("GET", "/v1.0/users") for _ in range(6)]
    assert picked == [fallback, fallback, third, fallback, fallback, third]


def test_remove_and_clear():
    book = FaultBook()
    one = book.add({"status": 500})
    book.add({"timeout": True, "hold_seconds": 1})
    assert book.remove(one.id) and not book.remove(one.id)
    assert len(book.active()) == 1
    book.clear()
    assert book.active() == []


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ([], "JSON object"),
        ({}, "needs status, latency_ms, timeout or drop"),
        ({"status": 200}, "between 400 and 599"),
        ({"status": 500, "count": 0}, "count must be at least 1"),
        ({"status": 500, "count": 1, "fraction": 0.5}, "not both"),
        ({"status": 500, "fraction": 2}, "fraction"),
        ({"status": 500, "match": "("}, "regular expression"),
        ({"status": "500"}, "status must be an integer"),
        ({"status": 500, "retryAfter": 1}, "unknown fields: retryAfter"),
        ({"timeout": "yes"}, "timeout must be true or false"),
        ({"latency_ms": -1}, "latency_ms must not be negative"),
    ],
)
def test_bad_specs_name_the_problem(spec, words):
    with pytest.raises(FaultSpecError) as caught:
        FaultBook().add(spec)
    assert words in str(caught.value)
