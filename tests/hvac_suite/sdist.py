"""hvac's source distribution (it carries hvac's own integration tests), fetched at run time.

Never vendored: `pip download` brings it into a cache directory once, its sha256 is checked
against the pin below, and it is unpacked beside it. A mismatch stops the run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "2.4.0"
SHA256 = "e0056ad9064e7923e874e6769015b032580b639e29246f5ab1044f7959c1c7e0"
ARCHIVE = f"hvac-{VERSION}.tar.gz"


def cache_dir() -> Path:
    """$ENTRA_BROKER_HVAC_CACHE, else $XDG_CACHE_HOME/entra-broker/hvac-sdist (~/.cache)."""
    chosen = os.environ.get("ENTRA_BROKER_HVAC_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "entra-broker" / "hvac-sdist"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _download(into: Path) -> Path:
    with tempfile.TemporaryDirectory(dir=into) as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
            + ["--no-binary", ":all:", f"hvac=={VERSION}", "-d", scratch],
            check=True,
            timeout=300,
        )
        fetched = Path(scratch) / ARCHIVE
        if _digest(fetched) != SHA256:
            raise RuntimeError(f"{ARCHIVE} from the index does not have the pinned sha256 {SHA256}")
        target = into / ARCHIVE
        fetched.replace(target)
        return target


def unpacked() -> Path:
    """The unpacked sdist's root (it holds hvac/ and tests/), downloading it if needed."""
    into = cache_dir()
    into.mkdir(parents=True, exist_ok=True)
    archive = into / ARCHIVE
    if not archive.exists() or _digest(archive) != SHA256:
        archive = _download(into)
    root = into / f"hvac-{VERSION}"
    marker = root / ".unpacked-sha256"
    if not marker.exists() or marker.read_text() != SHA256:
        with tempfile.TemporaryDirectory(dir=into) as scratch, tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
            if root.exists():
                shutil.rmtree(root)
            (Path(scratch) / f"hvac-{VERSION}").replace(root)
        marker.write_text(SHA256)
    return root
