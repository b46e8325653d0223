"""docs/recipes.md's script and hvac recipes, run as written with the recipe's own policy.

The recipes tell each application to hold a token with a policy like
compose/alice-app-policy.hcl and nothing more; so the commands they show must work with
exactly that policy (no default policy either), down to revoking the lease at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ALICE, CLI_TIMEOUT, Bao, Setup, Tenant
from tests.e2e.test_policies_cli import denied, new_token, ok

ROOT = Path(__file__).resolve().parents[2]
RECIPES = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
POLICY = ROOT / "compose" / "alice-app-policy.hcl"
# The placeholder for the application's work in the hvac recipe, replaced by a print.
HVAC_WORK = "    ...  # work as upn; renew before lease_duration (seconds) runs out:\n"


def _section_block(heading: str, language: str) -> str:
    """The first fenced `language` block of the section under `## heading`."""
    section = RECIPES.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(rf"^```{language}\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert found, f"no {language} block under ## {heading}"
    return found.group(1)


@pytest.fixture
def app_token(bao: Bao, configured: Setup) -> str:
    """A token holding only the recipe's policy, written the way compose/setup.sh does."""
    configured.role("alice", ttl="10m", max_ttl="2h")
    ok(bao("policy", "write", "alice-app", str(POLICY)))
    auth = new_token(bao, "-policy=alice-app", "-no-default-policy", "-ttl=10m")
    assert auth["policies"] == ["alice-app"]
    return str(auth["client_token"])


def test_the_script_recipe_runs_and_revokes_with_only_the_app_policy(
    bao: Bao, configured: Setup, tenant: Tenant, app_token: str, tmp_path: Path
) -> None:
    script = _section_block("The CLI in a script", "sh")
    assert "bao lease revoke" in script and "run-the-job" in script
    # The job itself is the reader's; here it records what it was given.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    job = bin_dir / "run-the-job"
    job.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" > {tmp_path}/args\ncat > {tmp_path}/password\n')
    job.chmod(0o755)
    (tmp_path / "job.sh").write_text(script)
    env = bao.env(app_token)
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(bao.binary).parent), env["PATH"]])

    run = subprocess.run(
        ["sh", str(tmp_path / "job.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )

    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    assert (tmp_path / "args").read_text().split() == [
        "--user",
        "alice@contoso.com",
        "--password-stdin",
    ]
    password = (tmp_path / "password").read_text().strip()
    assert password
    # The trap's revoke ran: the lease is gone and the password no longer signs in.
    assert configured.lease_keys("entra/creds/alice") == []
    assert not tenant.signs_in(ALICE, password)
    # Least privilege still: nothing beyond alice's credentials and their leases.
    denied(bao("read", "entra/creds/bob", token=app_token))
    denied(bao("lease", "revoke", "-prefix", "entra/creds/", token=app_token))


def test_the_hvac_recipe_runs_and_revokes_with_only_the_app_policy(
    bao: Bao, configured: Setup, tenant: Tenant, app_token: str
) -> None:
    code = _section_block("hvac", "python")
    assert HVAC_WORK in code and "client.sys.revoke_lease(lease_id)" in code
    code = code.replace(HVAC_WORK, "    print(json.dumps(secret))\n").replace(
        "import os\n", "import json\nimport os\n", 1
    )
    env = {k: v for k, v in bao.env(None).items() if k != "BAO_ADDR"}
    env.update({"VAULT_ADDR": bao.url, "VAULT_TOKEN": app_token})

    run = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )

    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"
    secret = json.loads(run.stdout)
    assert secret["data"]["user_principal_name"] == ALICE
    assert configured.lease_keys("entra/creds/alice") == []
    assert not tenant.signs_in(ALICE, secret["data"]["password"])
