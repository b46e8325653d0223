"""Schemathesis over the whole OpenAPI document the server publishes.

A dev server (its emulated tenant, roles for alice, bob and carol) runs as a subprocess in
a temporary directory, so that whatever the fuzzer writes (audit files among them) lands
there. Schemathesis derives requests from `sys/internal/specs/openapi` and checks every
answer: no 5xx, the documented Content-Type, and a body that fits the documented schema
(Vault's envelope, its error shape, or a legacy shape such as sys/health's).

`auth/token/revoke-self` is left out: with the root token it would end the run's own
token and every later answer would be a 403. ENTRA_SCHEMATHESIS_EXAMPLES sets the number
of examples per operation (default 5; CI runs the default, deterministically).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx

from tests.server_process import Server, free_port

EXAMPLES = os.environ.get("ENTRA_SCHEMATHESIS_EXAMPLES", "5")
CHECKS = "not_a_server_error,content_type_conformance,response_schema_conformance"


def _schemathesis(
    spec_file: Path, url: str, root: str, workdir: Path, selection: list[str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "st"),
            "run",
            str(spec_file),
            f"--url={url}",
            f"--header=X-Vault-Token: {root}",
            f"--checks={CHECKS}",
            f"--max-examples={EXAMPLES}",
            "--phases=coverage,fuzzing",
            "--generation-deterministic",
            "--workers=1",
            "--request-timeout=30",
            "--exclude-path=/auth/token/revoke-self",
            # Sealing answers 503 to everything after it, as revoking its token would.
            "--exclude-path=/sys/seal",
            *selection,
            "--no-color",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_server_conforms_to_its_own_openapi_document(tmp_path: Path) -> None:
    root = "s." + secrets.token_urlsafe(18)
    address = f"127.0.0.1:{free_port()}"
    workdir = tmp_path / "work"
    workdir.mkdir()
    server = Server(
        ["server", "--dev", f"--dev-root-token-id={root}", f"--dev-listen-address={address}"],
        cwd=workdir,
    )
    try:
        server.wait_for(r"Root Token: ")
        url = f"http://{address}/v1"
        with httpx.Client(trust_env=False, timeout=30) as http:
            spec = http.get(f"{url}/sys/internal/specs/openapi", headers={"X-Vault-Token": root})
        assert spec.status_code == 200, spec.text
        spec_file = tmp_path / "openapi.json"
        spec_file.write_bytes(spec.content)
        # entra/config last, alone: a fuzzed config points the engine at hosts that do
        # not answer, and every Graph call after it would be an (honest) 502.
        for selection in (["--exclude-path=/entra/config"], ["--include-path=/entra/config"]):
            run = _schemathesis(spec_file, url, root, workdir, selection)
            assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
            assert " passed" in run.stdout and "Internal Server Error" not in run.stdout
    finally:
        server.stop()
    # The server logged no internal error while it was fuzzed.
    assert "internal error method=" not in server.output, server.output[-4000:]
