"""The seam between mount/ and plugin/ stays small: checked on the source, with ast."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_plugin_imports_only_the_sdk_from_mount():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n
            for n in _imports(path)
            if (n == "mount" or n.startswith("mount.")) and not n.startswith("mount.sdk")
        )
        for path in (ROOT / "plugin").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_goplugin_imports_only_the_sdk_from_mount():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n
            for n in _imports(path)
            if (n == "mount" or n.startswith("mount.")) and not n.startswith("mount.sdk")
        )
        for path in (ROOT / "goplugin").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_plugin_never_imports_tinydb_aiohttp_or_the_emulator():
    for path in (ROOT / "plugin").rglob("*.py"):
        names = _imports(path)
        assert not any(n.startswith(("tinydb", "aiohttp")) for n in names), path
        assert not any(n == "emulator" or n.startswith("emulator.") for n in names), path


def test_the_emulator_imports_neither_mount_nor_plugin():
    """A separate product in the same distribution: it knows only its own package."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in _imports(path) if n.split(".")[0] in ("mount", "plugin")
        )
        for path in (ROOT / "emulator").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(list((ROOT / "emulator").rglob("*.py"))) > 10


def test_only_the_composition_root_imports_plugin():
    importers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "mount").rglob("*.py")
        if any(n == "plugin" or n.startswith("plugin.") for n in _imports(path))
    ]
    assert sorted(importers) == ["mount/run.py"]


def test_only_the_command_line_and_dev_mode_import_the_emulator():
    importers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "mount").rglob("*.py")
        if any(n.split(".")[0] == "emulator" for n in _imports(path))
    ]
    assert sorted(importers) == ["mount/cli.py", "mount/dev.py"]


def test_the_approle_method_imports_only_the_sdk_and_itself():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n
            for n in _imports(path)
            if (n == "mount" or n.startswith("mount."))
            and not n.startswith(("mount.sdk", "mount.auth.approle"))
        )
        for path in (ROOT / "mount" / "auth" / "approle").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_only_the_mount_imports_the_metrics_library():
    """Backends report through mount.sdk's MetricsSink; prometheus stays in mount/."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in [*(ROOT / "plugin").rglob("*.py"), *(ROOT / "mount" / "sdk").rglob("*.py")]
        if any(n.startswith("prometheus_client") for n in _imports(path))
    ]
    assert offenders == []


def test_a_production_start_never_imports_the_emulator():
    """Dev mode and the `emulator` command import it when they run; `server` never."""
    code = (
        "import sys, mount.cli, mount.run\n"
        "mount.cli.parse_arguments(['server', '-config=broker.hcl'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'emulator')\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# The host's layers, lowest first: a module imports only from its own layer or below
# (the engine seam is the lowest: `mount.sdk` imports nothing else of `mount`).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("sdk", ("mount.sdk",)),
    ("base", ("mount.ids", "mount.startup", "mount.metrics", "mount.logging_setup", "mount.seal")),
    ("storage", ("mount.storage",)),
    (
        "state",
        (
            "mount.leases",
            "mount.tokens",
            "mount.policy",
            "mount.audit",
            "mount.config",
            "mount.mounts",
            "mount.request",
            "mount.reply",
        ),
    ),
    ("core", ("mount.core", "mount.caller")),
    ("backends", ("mount.sys", "mount.auth")),
    ("build", ("mount.build",)),
    ("http", ("mount.http", "mount.ui")),
    ("cli", ("mount.cli", "mount.run", "mount.dev", "mount.__main__")),
]


def _layer(module: str) -> int | None:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return None


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_host_module_has_a_layer():
    unplaced = [
        _module_name(path)
        for path in (ROOT / "mount").rglob("*.py")
        if _module_name(path) != "mount" and _layer(_module_name(path)) is None
    ]
    assert unplaced == []


def test_the_host_imports_only_downwards():
    upward = {}
    for path in (ROOT / "mount").rglob("*.py"):
        own = _layer(_module_name(path))
        if own is None:
            continue
        above = sorted(
            name
            for name in _imports(path)
            if name.startswith("mount.") and (_layer(name) or 0) > own
        )
        if above:
            upward[_module_name(path)] = above
    assert upward == {}


def test_the_sdk_request_and_response_carry_no_host_internals():
    """What an engine gets and returns: no caller token entry, core, ACL or HTTP request;
    no envelope fields an engine could abuse (a lease id, an auth block, raw bodies)."""
    from dataclasses import fields

    from mount.sdk.logical import Request, Response

    assert [f.name for f in fields(Request)] == [
        "operation",
        "path",
        "data",
        "storage",
        "mount_point",
        "identity",
        "remote_address",
    ]
    assert [f.name for f in fields(Response)] == [
        "data",
        "warnings",
        "secret",
        "issue",
        "login",
        "status",
    ]
