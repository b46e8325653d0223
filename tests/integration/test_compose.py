"""docker-compose.yml: valid Compose, consistent with our CLI, and working without Docker.

Docker cannot run here, so the file is checked three ways: against the Compose
specification's JSON schema (as vendored by the check-jsonschema package, Apache-2.0,
from github.com/compose-spec/compose-spec), against our own command line and config
(every flag parses, every port and path lines up), and by running the same four
processes on loopback ports: each service's command with its environment, each
container path swapped for the host directory its volume stands for.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import hcl2
import jsonschema
import pytest
import yaml

from emulator import check_password
from emulator.cli import SECRET_ENV
from mount.cli import parse_arguments
from tests.server_process import BIN, Server, bao, free_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# The services built from our Dockerfile run `entra-broker`; the others run `bao`.
OURS = [name for name, service in SERVICES.items() if "build" in service]


def _schema() -> dict[str, Any]:
    vendored = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return dict(json.loads(vendored.read_text(encoding="utf-8")))


def test_the_file_follows_the_compose_specification():
    schema = _schema()
    assert schema["title"] == "Compose Specification"
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(COMPOSE)]
    assert errors == []


def test_the_schema_check_catches_a_mistake():
    broken = {**COMPOSE, "services": {**SERVICES, "broker": {**SERVICES["broker"], "port": 1}}}
    assert list(jsonschema.Draft202012Validator(_schema()).iter_errors(broken))


def test_the_services_are_the_demo():
    assert set(SERVICES) == {"emulator", "broker", "setup", "agent"}
    assert sorted(OURS) == ["broker", "emulator"]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^RUN pip install --no-cache-dir \. ", dockerfile, re.MULTILINE)
    assert re.search(r"^USER broker$", dockerfile, re.MULTILINE)
    assert '\nENTRYPOINT ["entra-broker"]\n' in dockerfile
    # Everything pip install . needs is let into the build context.
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8")
    for needed in ("pyproject.toml", "README.md", "mount/", "plugin/"):
        assert f"!{needed}" in ignored


def test_the_agent_image_is_the_bao_version_the_tests_use():
    version = subprocess.run([bao(), "version"], capture_output=True, text=True, timeout=30)
    tested = re.search(r"OpenBao v(\d+\.\d+\.\d+)", version.stdout)
    assert tested, version.stdout
    for name in ("setup", "agent"):
        assert SERVICES[name]["image"] == f"openbao/openbao:{tested.group(1)}"


@pytest.mark.parametrize("name", OURS)
def test_our_commands_parse_and_line_up_with_ports_volumes_and_environment(name):
    service = SERVICES[name]
    args = parse_arguments(service["command"])  # exits (fails) on an unknown flag
    listen = args.listen if args.command == "emulator" else args.dev_listen_address
    host, _, port = listen.rpartition(":")
    assert host == "0.0.0.0", "inside a container, listen on every interface"
    assert [p.rsplit(":", 1)[1] for p in service["ports"]] == [port]
    assert any(port in part for part in service["healthcheck"]["test"])
    if args.command == "emulator":
        assert "emulator" in args.hostnames, "the certificate must name the service"
        mounts = {v.split(":")[1] for v in service["volumes"]}
        assert str(args.cert_dir) in mounts
    known_environment = {SECRET_ENV}
    assert set(service.get("environment", {})) <= known_environment


def test_the_setup_and_agent_use_what_the_other_services_provide():
    emulator = parse_arguments(SERVICES["emulator"]["command"])
    setup = SERVICES["setup"]["environment"]
    assert setup["TENANT_ID"] == emulator.tenant_id
    assert setup["CLIENT_ID"] == emulator.client_id
    assert setup["CLIENT_SECRET"] == SERVICES["emulator"]["environment"][SECRET_ENV]
    assert setup["EMULATOR_URL"] == f"https://emulator:{emulator.listen.rsplit(':', 1)[1]}"
    broker = parse_arguments(SERVICES["broker"]["command"])
    broker_url = f"http://broker:{broker.dev_listen_address.rsplit(':', 1)[1]}"
    assert setup["BAO_ADDR"] == SERVICES["agent"]["environment"]["BAO_ADDR"] == broker_url
    assert setup["BAO_TOKEN"] == broker.dev_root_token_id
    agent = hcl2.loads((ROOT / "compose" / "agent.hcl").read_text(encoding="utf-8"))
    template = agent["template"][0]
    assert 'secret \\"entra/creds/alice\\"' in template["contents"]
    assert template["exec"][0]["command"]
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in declared or (ROOT / source).is_dir(), f"{name}: {volume}"


# -- the same processes without Docker ------------------------------------------------


class Mirror:
    """Container names, ports and paths of the compose file, mapped onto this host."""

    def __init__(self, tmp_path: Path) -> None:
        self.ports = {name: free_port() for name in OURS}
        self.paths: dict[str, Path] = {}
        for service in SERVICES.values():
            for volume in service.get("volumes", []):
                source, target = volume.split(":")[:2]
                if source in COMPOSE["volumes"]:
                    self.paths[target] = tmp_path / "volumes" / source
                else:
                    self.paths[target] = tmp_path / "bind" / source.strip("./")
        for path in self.paths.values():
            path.mkdir(parents=True, exist_ok=True)
        # Bind-mounted files hold container paths too: copy them, rewritten.
        for service in SERVICES.values():
            for volume in service.get("volumes", []):
                source, target = volume.split(":")[:2]
                if source not in COMPOSE["volumes"]:
                    for file in (ROOT / source).iterdir():
                        (self.paths[target] / file.name).write_text(self.text(file.read_text()))

    def text(self, value: str) -> str:
        for name, port in self.ports.items():
            container_port = self._container_port(name)
            value = value.replace(f"0.0.0.0:{container_port}", f"127.0.0.1:{port}")
            value = value.replace(f"{name}:{container_port}", f"127.0.0.1:{port}")
        # Longest first, so /compose/... is not taken for a prefix of something else.
        for target in sorted(self.paths, key=len, reverse=True):
            value = re.sub(
                rf"(?<![\w/.]){re.escape(target)}(?=/|\b|$)", str(self.paths[target]), value
            )
        return value

    def _container_port(self, name: str) -> str:
        return str(SERVICES[name]["ports"][0]).rsplit(":", 1)[1]

    def argv(self, name: str) -> list[str]:
        service = SERVICES[name]
        entrypoint = service.get("entrypoint", [])
        command = service.get("command", [])
        argv = [self.text(part) for part in [*entrypoint, *command]]
        if name in OURS:
            return [str(BIN / "entra-broker"), *argv]
        if argv[0] == "bao":
            argv[0] = bao()
        return argv

    def env(self, name: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        env.update({k: self.text(str(v)) for k, v in SERVICES[name].get("environment", {}).items()})
        return env

    def healthy(self, name: str) -> bool:
        test = SERVICES[name]["healthcheck"]["test"]
        assert test[0] == "CMD" and test[1] == "python"
        # Inside its container a service reaches itself on its container port; here, on
        # the loopback port it was given.
        own = rf"\b{self._container_port(name)}\b"
        parts = [re.sub(own, str(self.ports[name]), self.text(part)) for part in test[2:]]
        argv = [str(BIN / "python"), *parts]
        return subprocess.run(argv, capture_output=True, timeout=10).returncode == 0


def _wait(condition, what: str, timeout: float, log: Iterator[str] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}\n" + "\n".join(log or [])
        time.sleep(0.1)


def test_the_demo_runs_without_docker(servers, tmp_path):
    mirror = Mirror(tmp_path)
    procs: list[Server] = []
    for name in ("emulator", "broker"):  # depends_on: setup waits for both to be healthy
        proc = Server(mirror.argv(name)[1:], env=mirror.env(name))
        servers.append(proc)
        procs.append(proc)
        _wait(lambda n=name: mirror.healthy(n), f"{name} never became healthy", 30, proc.lines)

    setup = subprocess.run(
        mirror.argv("setup"), capture_output=True, text=True, env=mirror.env("setup"), timeout=60
    )
    assert setup.returncode == 0, setup.stdout + setup.stderr

    agent_env = {**mirror.env("agent"), "HOME": str(tmp_path)}
    with (tmp_path / "agent.log").open("wb") as log:
        agent = subprocess.Popen(
            mirror.argv("agent"), stdout=log, stderr=subprocess.STDOUT, env=agent_env
        )
    try:
        rendered = mirror.paths["/rendered"] / "alice-password"
        rotations = mirror.paths["/rendered"] / "rotations.log"
        agent_log = lambda: (tmp_path / "agent.log").read_text().splitlines()  # noqa: E731
        # The shell's redirect creates the file before echo writes the line: wait for the line.
        ran = lambda: rotations.exists() and "alice password rendered" in rotations.read_text()  # noqa: E731
        _wait(ran, "the agent never ran the exec command", 30, agent_log())
        password = rendered.read_text()
        assert password and rendered.stat().st_mode & 0o777 == 0o600
    finally:
        agent.terminate()
        agent.wait(30)

    emulator = parse_arguments(SERVICES["emulator"]["command"])
    ca = mirror.paths[str(emulator.cert_dir)] / "ca.pem"
    url = f"https://127.0.0.1:{mirror.ports['emulator']}"
    signs_in = check_password(
        url, emulator.tenant_id, emulator.client_id, emulator.users[0], password, ca
    )
    assert asyncio.run(signs_in), "the rendered password does not sign in at the emulator"
    for proc in procs:
        assert proc.stop() == 0
    shutil.rmtree(tmp_path / "volumes", ignore_errors=True)
