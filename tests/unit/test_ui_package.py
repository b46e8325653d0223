"""The dashboard's templates and static files ship in the package (pyproject package-data)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "mount" / "ui"


def test_every_template_and_static_file_is_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["mount.ui"]
    files = [
        p.relative_to(UI).as_posix() for d in ("templates", "static") for p in (UI / d).iterdir()
    ]
    assert files, "no dashboard files found"
    missing = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert missing == []


def test_no_template_has_inline_script_or_style() -> None:
    """The CSP allows only the server's own script and style files."""
    for template in (UI / "templates").glob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and "<style" not in text, template.name
        assert " style=" not in text, template.name
        assert re.search(r"\son[a-z]+=", text) is None, template.name  # event handlers
