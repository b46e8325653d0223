"""Starting `entra-broker server` as an operator does: where storage lives, what a start
creates and when, what it says, and the audit files it refuses (issue 13, 16 to 20)."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

import hvac
import hvac.exceptions
import pytest

from tests.server_process import Server, bao_run, command, free_port

START_TIMEOUT = 60
NO_ROOT_TOKEN = (
    "No root token printed: this storage already has one (shown at its first start); "
    "lost it? run entra-broker operator generate-root --config {config}"
)
BACKUP_WARNING = "back them up apart"


def write_config(
    tmp_path: Path, storage_path: str, *, port: int | None = None, extra: str = ""
) -> Path:
    config = tmp_path / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{port or free_port()}"\n'
        "  tls_disable = true\n}\n"
        f'storage "tinydb" {{\n  path = "{storage_path}"\n}}\n' + extra
    )
    return config


def start(servers: list[Server], *args: str) -> tuple[Server, str | None]:
    """A server started with these arguments, and the root token it printed, if any."""
    server = Server(["server", *args])
    servers.append(server)
    # Every start ends its banner with the root token or the reason there is none.
    found = server.wait_for(r"Root Token: (\S+)|No root token printed", timeout=START_TIMEOUT)
    return server, found.group(1)


def start_fails(*args: str) -> subprocess.CompletedProcess[str]:
    """The server refusing to start: exit 1, one `Error:` line, no traceback."""
    result = subprocess.run(
        command() + ["server", *args], capture_output=True, text=True, timeout=START_TIMEOUT
    )
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return result


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("Error: "))


def files_under(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# -- 19: a storage path that is a directory ------------------------------------------


def test_an_existing_empty_directory_holds_the_storage(servers, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    config = write_config(tmp_path, "data")
    first, root = start(servers, "-config=" + str(config))
    assert root is not None, first.output
    assert "restore the key file" not in first.output
    # The seal key sits beside the data (the default): said once, as a warning.
    warnings = [line for line in first.output.splitlines() if BACKUP_WARNING in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0], first.output
    assert str(data / "seal.key") in warnings[0]
    assert first.stop() == 0
    assert files_under(data) == [
        "broker.db",
        "broker.db.leases",
        "broker.db.leases.lock",
        "broker.db.lock",
        "seal.key",
    ]
    assert files_under(tmp_path / "data.leases") == [] and not (tmp_path / "seal.key").exists()

    second, again = start(servers, "--config", str(config))
    assert again is None
    client = hvac.Client(url=second.wait_for(r"started on (\S+)").group(1), token=root)
    assert client.auth.token.lookup_self()["data"]["policies"] == ["root"]
    assert second.stop() == 0
    regenerated = subprocess.run(
        command() + ["operator", "generate-root", f"-config={config}"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert regenerated.returncode == 0, regenerated.stderr
    assert re.fullmatch(r"Root Token: s\.\w{24}\n", regenerated.stdout)


def test_a_path_ending_in_a_slash_is_a_directory_made_at_first_start(servers, tmp_path):
    config = write_config(tmp_path, "state/", extra='seal_key_file = "keys/seal.key"\n')
    server, root = start(servers, "--config", str(config))
    assert root is not None
    # The key is kept apart from the data: no warning to give.
    assert BACKUP_WARNING not in server.output
    assert server.stop() == 0
    assert (tmp_path / "state").is_dir()
    assert {"broker.db", "broker.db.leases"} <= set(files_under(tmp_path / "state"))
    assert files_under(tmp_path / "keys") == ["seal.key"]


def test_a_storage_file_path_keeps_its_old_layout(servers, tmp_path):
    config = write_config(tmp_path, "data/broker.json")
    server, root = start(servers, "--config", str(config))
    assert root is not None
    warnings = [line for line in server.output.splitlines() if BACKUP_WARNING in line]
    assert len(warnings) == 1, server.output
    assert server.stop() == 0
    assert files_under(tmp_path / "data") == [
        "broker.json",
        "broker.json.leases",
        "broker.json.leases.lock",
        "broker.json.lock",
        "seal.key",
    ]


# -- 17: the lease log of a used store is missing -------------------------------------


def test_a_missing_lease_log_stops_the_start_without_a_new_root_token(servers, tmp_path):
    config = write_config(tmp_path, "data/broker.json")
    first, root = start(servers, "--config", str(config))
    assert root is not None and first.stop() == 0
    leases = tmp_path / "data" / "broker.json.leases"
    leases.unlink()

    failed = start_fails("--config", str(config))
    assert error_line(failed) == (
        f"Error: the lease log {leases} of the storage {tmp_path / 'data' / 'broker.json'} "
        "is missing: it holds the leases and the tokens, the root token's included; "
        "restore it from your backup, or move broker.json away to start with empty storage"
    )
    assert "Root Token" not in failed.stdout and not leases.exists()


# -- 18: nothing is created before the TLS files are loaded and the port is bound ------


def test_a_missing_tls_file_leaves_no_storage_and_no_seal_key(tmp_path):
    config = tmp_path / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{free_port()}"\n'
        '  tls_cert_file = "missing.pem"\n  tls_key_file = "missing-key.pem"\n}\n'
        'storage "tinydb" {\n  path = "data/"\n}\n'
    )
    failed = start_fails("--config", str(config))
    assert "missing.pem" in error_line(failed)
    assert files_under(tmp_path) == ["broker.hcl"]


def test_a_busy_port_leaves_no_storage_and_no_seal_key(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(
            tmp_path,
            "data/broker.json",
            port=port,
            extra='audit "file" "disk" {\n  options { file_path = "logs/audit.log" }\n}\n',
        )
        failed = start_fails("--config", str(config))
    assert "the address is already in use" in error_line(failed)
    assert files_under(tmp_path) == ["broker.hcl"]


def test_a_restart_says_why_it_prints_no_root_token(servers, tmp_path):
    config = write_config(tmp_path, "data/")
    first, root = start(servers, "--config", str(config))
    assert root is not None
    assert "No root token printed" not in first.output
    assert first.stop() == 0
    second, again = start(servers, "--config", str(config))
    assert again is None
    lines = [line for line in second.output.splitlines() if "No root token printed" in line]
    assert lines == [NO_ROOT_TOKEN.format(config=config)], second.output
    assert second.stop() == 0


# -- 20: typos hinted before the error they cause; Vault's spelling of the flags -------


@pytest.mark.parametrize(
    ("block", "hint", "error"),
    [
        (
            'listener "tcp" {\n  address = "127.0.0.1:1"\n  tls_disabel = true\n}\n'
            'storage "tinydb" { path = "db.json" }\n',
            'listener "tcp": tls_disabel is ignored (did you mean "tls_disable"?)',
            'Error: listener "tcp": tls_cert_file is required unless tls_disable = true',
        ),
        (
            'listener "tcp" {\n  address = "127.0.0.1:1"\n  tls_disable = true\n}\n'
            'storage "tinydb" { pth = "db.json" }\n',
            'storage "tinydb": pth is ignored (did you mean "path"?)',
            'Error: storage "tinydb": path is required',
        ),
    ],
    ids=["tls_disabel", "pth"],
)
def test_a_typo_in_a_block_is_hinted_before_the_error_it_causes(tmp_path, block, hint, error):
    config = tmp_path / "broker.hcl"
    config.write_text(block)
    failed = start_fails("--config", str(config))
    lines = failed.stderr.splitlines()
    hints = [n for n, line in enumerate(lines) if hint in line]
    errors = [n for n, line in enumerate(lines) if line.startswith(error)]
    assert len(hints) == 1 and len(errors) == 1, failed.stderr
    assert hints[0] < errors[0], failed.stderr
    assert files_under(tmp_path) == ["broker.hcl"]


def test_config_flag_in_vault_spelling(tmp_path):
    missing = tmp_path / "nowhere.hcl"
    failed = start_fails(f"-config={missing}")
    assert error_line(failed) == (
        f"Error: cannot read config file {missing}: No such file or directory"
    )
    failed = start_fails("-config", str(missing))
    assert error_line(failed).startswith(f"Error: cannot read config file {missing}")


def test_dev_flags_in_vault_spelling(servers, tmp_path):
    port = free_port()
    token = "s.VaultSpelledDevToken1234"
    server, root = start(
        servers, "-dev", f"-dev-listen-address=127.0.0.1:{port}", f"-dev-root-token-id={token}"
    )
    assert root == token
    client = hvac.Client(url=f"http://127.0.0.1:{port}", token=token)
    assert client.auth.token.lookup_self()["data"]["policies"] == ["root"]
    assert client.read("entra/roles/alice")["data"]["user_principal_name"] == "alice@example.test"
    assert server.stop() == 0


# -- 16: an audit file may not be the seal key, a storage file or another file ---------


def test_an_audit_file_may_not_be_the_seal_key_a_storage_file_or_any_other_file(servers, tmp_path):
    config = write_config(tmp_path, "data/broker.json")
    server, root = start(servers, "--config", str(config))
    assert root is not None
    url = server.wait_for(r"started on (\S+)").group(1)
    client = hvac.Client(url=url, token=root)
    data = tmp_path / "data"
    key_before = (data / "seal.key").read_bytes()
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\nsecond line\n")
    refused = {
        data / "seal.key": "is the seal key file",
        data / "broker.json": "is the storage file",
        data / "broker.json.leases": "is the storage's lease log",
        data / "broker.json.lock": "is a storage lock file",
        data / "broker.json.leases.lock": "is a storage lock file",
        config: "is an existing file that is not an audit log",
        notes: "is an existing file that is not an audit log",
    }
    for n, (path, what) in enumerate(refused.items()):
        with pytest.raises(hvac.exceptions.InvalidRequest) as caught:
            client.sys.enable_audit_device("file", path=f"f{n}", options={"file_path": str(path)})
        assert caught.value.errors == [
            f'file_path "{path}" {what}; an audit device needs a file of its own'
        ], path
    # The same through the CLI, and through a link to the key.
    link = tmp_path / "innocent.log"
    link.symlink_to(data / "seal.key")
    run = bao_run(url, root, "audit", "enable", "file", f"file_path={link}", home=tmp_path)
    assert run.returncode == 2 and "Code: 400" in run.stderr, run.stderr
    assert f'file_path "{link}" is the seal key file' in run.stderr
    assert client.sys.list_enabled_audit_devices()["data"] == {}
    assert (data / "seal.key").read_bytes() == key_before
    assert notes.read_text() == "my notes\nsecond line\n"

    # An audit log of ours (or an empty file) may be used again.
    log = tmp_path / "audit.log"
    run = bao_run(url, root, "audit", "enable", "file", f"file_path={log}", home=tmp_path)
    assert run.returncode == 0, run.stderr
    client.auth.token.lookup_self()
    assert bao_run(url, root, "audit", "disable", "file/", home=tmp_path).returncode == 0
    assert log.stat().st_size > 0
    client.sys.enable_audit_device("file", path="again", options={"file_path": str(log)})
    empty = tmp_path / "empty.log"
    empty.touch()
    client.sys.enable_audit_device("file", path="empty", options={"file_path": str(empty)})
    assert sorted(client.sys.list_enabled_audit_devices()["data"]) == ["again/", "empty/"]
    assert server.stop() == 0


def test_a_declared_audit_device_on_the_seal_key_stops_the_start(tmp_path):
    config = write_config(
        tmp_path,
        "data/broker.json",
        extra='audit "file" "disk" {\n  options { file_path = "data/seal.key" }\n}\n',
    )
    failed = start_fails("--config", str(config))
    assert error_line(failed) == (
        f'Error: audit "file" "disk": file_path "{tmp_path / "data" / "seal.key"}" is the '
        "seal key file; an audit device needs a file of its own"
    )
    assert files_under(tmp_path) == ["broker.hcl"]
