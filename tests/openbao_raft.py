"""A real three-node OpenBao cluster on Raft storage, on loopback, for the HA test.

Each node is a `bao server` with its own config file, data directory and (empty)
plugin directory; the test installs the launcher into each. The first node is
initialized with one key share; the others join it and are unsealed with the same key.
"""

from __future__ import annotations

import json
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.openbao_dev import START_TIMEOUT, DevServer, free_port
from tests.waiting import wait_until_sync

__all__ = ["RaftCluster", "RaftNode"]


@dataclass
class RaftNode(DevServer):
    """One `bao server -config` node; `token` is the cluster's root token once known."""

    node_id: str = "node"
    cluster_port: int = field(default_factory=free_port)
    token: str = ""

    def env(self) -> dict[str, str]:
        env = super().env()
        env["BAO_TOKEN"] = self.token
        return env

    def config_text(self) -> str:
        data = self.home / "raft"
        return f"""
storage "raft" {{
  path    = "{data}"
  node_id = "{self.node_id}"
  performance_multiplier = 1
}}
listener "tcp" {{
  address         = "127.0.0.1:{self.port}"
  cluster_address = "127.0.0.1:{self.cluster_port}"
  tls_disable     = true
}}
api_addr         = "http://127.0.0.1:{self.port}"
cluster_addr     = "https://127.0.0.1:{self.cluster_port}"
plugin_directory = "{self.plugin_dir}"
disable_mlock    = true
ui               = false
log_level        = "info"
"""

    def start(self) -> RaftNode:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "raft").mkdir(exist_ok=True)
        config = self.home / "node.hcl"
        config.write_text(self.config_text())
        log = (self.home / "bao-server.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "server", f"-config={config}"],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        wait_until_sync(self._listening, START_TIMEOUT, interval=0.1)
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"bao server exited: {self.log()[-2000:]}")
        try:
            httpx.get(f"{self.url}/v1/sys/health", timeout=2)
        except httpx.HTTPError:
            return False
        return True

    def health(self) -> dict[str, Any]:
        """sys/health's body (its status code says active 200, standby 429, sealed 503)."""
        try:
            answer = httpx.get(f"{self.url}/v1/sys/health", timeout=2)
        except httpx.HTTPError:
            return {}
        return dict(answer.json()) if answer.content else {}

    def is_active(self) -> bool:
        found = self.health()
        return bool(found) and not found.get("sealed", True) and not found.get("standby", True)

    def is_unsealed_standby(self) -> bool:
        found = self.health()
        return bool(found) and not found.get("sealed", True) and bool(found.get("standby"))

    def unseal(self, key: str) -> None:
        self.ok("operator", "unseal", key)


@dataclass
class RaftCluster:
    """Three nodes: the first initialized, the others joined; `key` unseals them all."""

    root: Path
    binary: str
    nodes: list[RaftNode] = field(default_factory=list)
    key: str = ""
    token: str = ""

    def start(self, count: int = 3) -> RaftCluster:
        for index in range(count):
            home = self.root / f"node{index + 1}"
            plugins = home / "plugins"
            plugins.mkdir(parents=True, exist_ok=True)
            self.nodes.append(
                RaftNode(home, plugins, self.binary, node_id=f"node{index + 1}").start()
            )
        first = self.nodes[0]
        init = json.loads(
            first.ok("operator", "init", "-key-shares=1", "-key-threshold=1", "-format=json")
        )
        self.key, self.token = init["unseal_keys_b64"][0], init["root_token"]
        for node in self.nodes:
            node.token = self.token
        first.unseal(self.key)
        wait_until_sync(first.is_active, 60, interval=0.2)
        for node in self.nodes[1:]:
            node.ok("operator", "raft", "join", first.url)
            node.unseal(self.key)
            wait_until_sync(node.is_unsealed_standby, 60, interval=0.2)
        wait_until_sync(lambda: len(self.peers(first)) == count, 60, interval=0.2)
        return self

    def peers(self, via: RaftNode) -> list[dict[str, Any]]:
        found = via.cli("operator", "raft", "list-peers", "-format=json")
        if found.returncode != 0:
            return []
        servers = json.loads(found.stdout)["data"]["config"]["servers"]
        return [s for s in servers if s.get("voter")]

    def active(self) -> RaftNode | None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None and node.is_active():
                return node
        return None

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(signal.SIGTERM)
