"""A production start never imports the Entra emulator (dev mode and tests only)."""

from __future__ import annotations

import signal
import sys

from tests.server_process import OutputCollected, bao_run, free_port
from tests.waiting import wait_until_sync

# `python -m mount` in this process, reporting at exit which emulator modules were loaded.
LAUNCHER = """
import atexit, runpy, sys
atexit.register(lambda: print("emulator modules:", sorted(
    m for m in sys.modules if m == "emulator" or m.startswith("emulator.")), flush=True))
sys.argv[0] = "mount"
runpy.run_module("mount", run_name="__main__", alter_sys=True)
"""


def test_a_server_started_from_a_config_file_never_imports_the_emulator(tmp_path):
    port = free_port()
    config = tmp_path / "broker.hcl"
    config.write_text(
        f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        'storage "tinydb" {\n  path = "broker.json"\n}\n'
    )
    server = OutputCollected(
        [sys.executable, "-c", LAUNCHER, "server", f"-config={config}"], cwd=tmp_path
    )
    try:
        wait_until_sync(lambda: any("Root Token: " in line for line in server.lines), 30)
        root = next(ln for ln in server.lines if "Root Token: " in ln).split(": ", 1)[1].strip()
        # The engine's own paths run too: entra/config read, unconfigured.
        read = bao_run(f"http://127.0.0.1:{port}", root, "read", "entra/config", home=tmp_path)
        assert "entra/config" in read.stdout + read.stderr
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(30) == 0
        server._reader.join(10)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)
        if server.proc.stdout is not None:
            server.proc.stdout.close()
    assert "emulator modules: []" in server.lines, "\n".join(server.lines)
