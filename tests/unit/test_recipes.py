"""docs/recipes.md: the parts that cannot run here still hang together.

No Kubernetes cluster runs in the tests, so the sidecar recipe is checked for what a
typo would break: it parses, every mount names a volume of the pod, the agent's files lie
in volumes mounted into the agent, and the application reads what the agent writes. The
agent configuration shown is the one the compose mirror test runs.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import hcl2
import yaml

ROOT = Path(__file__).resolve().parents[2]
RECIPES = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")


def _fenced(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", RECIPES, re.MULTILINE | re.DOTALL)


def _kubernetes() -> dict[str, dict[str, Any]]:
    (text,) = _fenced("yaml")
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


def _mounts(container: dict[str, Any]) -> dict[str, str]:
    return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}


def _unquoted(value: Any) -> Any:
    """python-hcl2 keeps the quotes of strings and block labels; drop them."""
    if isinstance(value, dict):
        return {_unquoted(k): _unquoted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unquoted(v) for v in value]
    if isinstance(value, str) and len(value) > 1 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _inside(path: str, mounts: dict[str, str]) -> str | None:
    """The volume holding `path`, among a container's mounts."""
    for mount_path, volume in mounts.items():
        if PurePosixPath(path).is_relative_to(mount_path):
            return volume
    return None


def test_the_agent_configuration_shown_is_the_tested_one():
    shown = _fenced("hcl")
    assert (ROOT / "compose" / "agent.hcl").read_text(encoding="utf-8") in shown


def test_the_sidecar_pod_hangs_together():
    docs = _kubernetes()
    assert set(docs) == {"ConfigMap", "Pod"}
    spec = docs["Pod"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    containers = {c["name"]: c for c in spec["containers"]}
    assert set(containers) == {"app", "agent"}
    for container in containers.values():
        for volume in _mounts(container).values():
            assert volume in volumes, f"{container['name']} mounts unknown volume {volume}"
    assert set(volumes) == {v for c in containers.values() for v in _mounts(c).values()}

    agent = containers["agent"]
    assert agent["command"][:2] == ["bao", "agent"]
    config_path = agent["command"][2].removeprefix("-config=")
    config_volume = volumes[_inside(config_path, _mounts(agent)) or "?"]
    assert config_volume["configMap"]["name"] == docs["ConfigMap"]["metadata"]["name"]
    config_text = docs["ConfigMap"]["data"][PurePosixPath(config_path).name]
    config = _unquoted(hcl2.loads(config_text))

    approle = config["auto_auth"][0]["method"][0]["approle"]["config"]
    files = [
        approle["role_id_file_path"],
        approle["secret_id_file_path"],
        config["vault"][0]["ca_cert"],
    ]
    for path in files:
        assert _inside(path, _mounts(agent)), f"{path} is in no volume of the agent"
    assert volumes[_inside(files[0], _mounts(agent)) or "?"]["secret"]["secretName"]

    template = config["template"][0]
    assert 'secret \\"entra/creds/alice\\"' in template["contents"]
    destination = template["destination"]
    shared = _inside(destination, _mounts(agent))
    assert shared and "emptyDir" in volumes[shared], "the agent must write to the shared emptyDir"
    app = containers["app"]
    assert _inside(destination, _mounts(app)) == shared
    assert {"name": "ALICE_PASSWORD_FILE", "value": destination} in app["env"]
