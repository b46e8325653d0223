"""mount/storage/ sits on the SDK only, and the SDK on nothing of mount: checked on the source."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _mount_imports(package: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in (ROOT / "mount" / package).rglob("*.py"):
        names = []
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.append(node.module)
        found[str(path.relative_to(ROOT))] = [n for n in names if n.split(".")[0] == "mount"]
    return found


def test_storage_imports_only_the_sdk_and_itself():
    offenders = {
        path: [n for n in names if not n.startswith(("mount.sdk", "mount.storage"))]
        for path, names in _mount_imports("storage").items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert "mount/storage/tinydb.py" in offenders  # the walk found the package


def test_the_sdk_imports_nothing_of_mount_but_itself():
    offenders = {
        path: [n for n in names if not n.startswith("mount.sdk")]
        for path, names in _mount_imports("sdk").items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert "mount/sdk/testing.py" in offenders
