"""The quickstart's marked blocks, run as written against a dev server.

A fenced block preceded by `<!-- test: run -->` must succeed, one preceded by
`<!-- test: fails -->` must fail (the page shows a refusal there). The blocks run in order
in one shell, as a reader pastes them into one terminal, with the variables the dev
server's banner says to export, and `VAULT_TOKEN` set to the root token as section 3 says.
`sh` blocks run in bash; `python` blocks run with this interpreter (which has hvac).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.server_process import BIN, Server, free_port

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
MARKER = re.compile(r"<!-- test: (run|fails) -->")
BEGIN, END = "::quickstart-block-begin {}", "::quickstart-block-end {} {}"


@dataclass(frozen=True)
class Block:
    expect: str  # "run" or "fails"
    language: str
    code: str
    line: int

    def __str__(self) -> str:
        return f"quickstart.md line {self.line} ({self.language}, expected to {self.expect})"


def marked_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        marker = MARKER.fullmatch(lines[i].strip())
        i += 1
        if not marker:
            continue
        fence = re.fullmatch(r"```(\w+)", lines[i].strip()) if i < len(lines) else None
        assert fence, f"quickstart.md line {i}: a test marker must sit right above a fence"
        end = lines.index("```", i + 1)
        code = "\n".join(lines[i + 1 : end])
        blocks.append(Block(marker.group(1), fence.group(1), code, i + 1))
        i = end + 1
    return blocks


def _banner_exports(output: str) -> dict[str, str]:
    """NAME=value of every `$ export NAME='value'` line the banner prints."""
    return dict(re.findall(r"^\s*\$ export (\w+)='([^']*)'$", output, re.MULTILINE))


def _script(blocks: list[Block]) -> str:
    """One bash script running the blocks in order, each bracketed by markers."""
    parts = ["set -eo pipefail"]
    for n, block in enumerate(blocks):
        assert block.language in ("sh", "python"), block
        code = block.code
        if block.language == "python":
            code = f"{shlex.quote(sys.executable)} - <<'QUICKSTART_PY'\n{code}\nQUICKSTART_PY"
        parts.append(f"echo {shlex.quote(BEGIN.format(n))}")
        if block.expect == "run":
            parts.append(f"{code}\necho {shlex.quote(END.format(n, 'ok'))}")
        else:
            # The block's own exit status decides; set -e does not apply inside `if`.
            parts.append(
                f"if {{\n{code}\n}}; then echo {shlex.quote(END.format(n, 'succeeded'))}; "
                f"exit 97; fi\necho {shlex.quote(END.format(n, 'failed'))}"
            )
    return "\n".join(parts) + "\n"


def _outputs(stdout: str, count: int) -> list[str | None]:
    found: list[str | None] = []
    for n in range(count):
        begin = stdout.find(BEGIN.format(n) + "\n")
        end = stdout.find(END.format(n, ""), begin)
        found.append(None if begin < 0 or end < 0 else stdout[begin:end])
    return found


def test_the_marked_blocks_are_found():
    blocks = marked_blocks(QUICKSTART.read_text(encoding="utf-8"))
    assert [b.expect for b in blocks].count("fails") == 1
    assert {b.language for b in blocks} == {"sh", "python"}
    assert any("bao read entra/creds/alice" in b.code for b in blocks)
    assert any("curl" in b.code and "$PASSWORD" in b.code for b in blocks)


def _page_exports(text: str) -> tuple[set[str], set[str]]:
    """Names the page's sample banner exports, and names the page tells to export."""
    example = re.search(r"```\n(==> entra-broker server started!.*?)```", text, re.DOTALL)
    assert example, "the page shows no dev banner"
    # Section 3 exports VAULT_TOKEN by hand: the banner names the token, not that variable.
    pasted = set(re.findall(r"^export (\w+)=", text, re.MULTILINE)) - {"VAULT_TOKEN"}
    return set(_banner_exports(example.group(1))), pasted


def test_the_quickstart_runs_as_written(servers, tmp_path):
    text = QUICKSTART.read_text(encoding="utf-8")
    blocks = marked_blocks(text)
    port = free_port()
    server = Server(["server", "--dev", "--dev-listen-address", f"127.0.0.1:{port}"])
    servers.append(server)
    server.wait_for(r"--data-urlencode password=")
    exports = _banner_exports(server.output)
    assert exports["BAO_ADDR"] == f"http://127.0.0.1:{port}"
    # The reader pastes the banner's exports: the page must show and ask for the same ones.
    shown, pasted = _page_exports(text)
    assert shown == set(exports)
    assert {"BAO_ADDR", "BAO_TOKEN", "EMULATOR_TOKEN_URL", "EMULATOR_CA"} <= pasted <= shown

    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env.update(exports)
    env["VAULT_TOKEN"] = exports["BAO_TOKEN"]  # section 3: the same token for vault and hvac
    env["HOME"] = str(tmp_path)  # bao keeps nothing of the developer's own setup
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # bao from the test install
    result = subprocess.run(
        ["bash", "-c", _script(blocks)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    report = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    outputs = _outputs(result.stdout, len(blocks))
    for block, output in zip(blocks, outputs, strict=True):
        assert output is not None, f"{block} did not complete\n{report}"
    assert result.returncode == 0, report

    for block, output in zip(blocks, outputs, strict=True):
        assert output is not None
        if "curl" in block.code:
            # The sign-in check: a token while the lease lives, Entra's refusal after revoke.
            wanted = '"access_token"' if block.expect == "run" else "AADSTS50126"
            assert wanted in output, f"{block}: {wanted} not in its output\n{report}"
    assert server.stop() == 0
    assert exports["BAO_TOKEN"] not in server.output.split("Root Token:")[0]
