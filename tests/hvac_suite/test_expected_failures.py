"""The expected failures of the hvac suite and the docs' tables list the same tests."""

from __future__ import annotations

import re
from pathlib import Path

from tests.hvac_suite import expected

DOCS = Path(__file__).parents[2] / "docs" / "compatibility.md"
ROW = re.compile(r"^\| `(tests/integration_tests/[^`]+)` \| (.+?) \|$")


def _rows(heading: str) -> dict[str, list[str]]:
    text = DOCS.read_text()
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    section = text[start : end if end != -1 else len(text)]
    found: dict[str, list[str]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            found[match[1]] = [match[2]]
    return found


def test_docs_list_exactly_the_unsupported_tests_with_their_reasons() -> None:
    rows = _rows("### Expected failures: not served")
    data = {entry["id"]: [entry["reason"]] for entry in expected.entries("unsupported")}
    assert rows == data


def test_every_entry_has_a_reason_and_appears_once() -> None:
    ids = expected.ids()
    assert len(ids) == len(set(ids))
    assert all(entry["reason"].strip() for entry in expected.entries("unsupported"))
