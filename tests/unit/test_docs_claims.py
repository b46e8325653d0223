"""Claims the docs once made that the code has since made false must not come back.

Policies are enforced on every request, `num_uses` is enforced, and revoking a token
revokes its children and their leases (tests/e2e/test_access.py and
tests/e2e/test_policies_cli.py show it); a page saying otherwise misleads an operator
into trusting, or distrusting, the wrong thing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STALE = {
    "policies unenforced": re.compile(r"polic(?:y|ies)\b[^.|]*\bnot (?:yet )?enforced", re.I),
    "any token, any path": re.compile(r"any (?:valid )?token may call any path", re.I),
    "token-only revocation": re.compile(r"revok\w* (?:the|a) token only", re.I),
    "num_uses unenforced": re.compile(r"neither is `num_uses`"),
}


def _known_differences() -> list[str]:
    text = (ROOT / "docs" / "compatibility.md").read_text(encoding="utf-8")
    section = text.split("## Known differences", 1)[1]
    return [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_repeats_a_claim_the_code_made_false(page: Path) -> None:
    text = " ".join(page.read_text(encoding="utf-8").split())  # claims may span lines
    found = {name: m.group(0) for name, rx in STALE.items() if (m := rx.search(text))}
    assert found == {}


def test_policies_and_token_revocation_are_no_known_difference() -> None:
    rows = _known_differences()
    assert "legacy `sys/renew`, `sys/revoke`, …" in rows  # the table is read right
    assert "policies" not in rows
    assert "revoking a token" not in rows
