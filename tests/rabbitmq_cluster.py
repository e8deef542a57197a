"""A three-node RabbitMQ cluster of a test's own, on this host, behind HAProxy.

Each node is a ``tests.rabbitmq_node.RabbitNode`` (its own name, ports and data); they form one
cluster by the peer discovery and partition handling of ``deploy/rabbitmq/cluster.conf``, with
these nodes' names in place of the compose ones, and clients reach them through HAProxy run with
``deploy/haproxy/haproxy.cfg``: the same files the compose cluster runs. A node can be killed
with SIGKILL and started again on its data; nobody else is disturbed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import free_port
from tests.rabbitmq_node import RabbitNode, skip_unless_nodes_can_start

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_CONF = ROOT / "deploy" / "rabbitmq" / "cluster.conf"
HAPROXY_CFG = ROOT / "deploy" / "haproxy" / "haproxy.cfg"
FORM_SECONDS = 90


def cluster_conf(names: list[str]) -> str:
    """``deploy/rabbitmq/cluster.conf`` with ``names`` as the peers to discover."""
    template = CLUSTER_CONF.read_text()
    peers = re.findall(r"^cluster_formation\.classic_config\.nodes\.\d+ = .*$", template, re.M)
    if len(peers) != len(names):
        raise ValueError(f"{CLUSTER_CONF} names {len(peers)} peers, the cluster has {len(names)}")
    for index, (line, name) in enumerate(zip(peers, names, strict=True), start=1):
        template = template.replace(
            line, f"cluster_formation.classic_config.nodes.{index} = {name}"
        )
    return template


class Cluster:
    """Three nodes, HAProxy in front: ``url`` is the one address clients use."""

    def __init__(self, nodes: list[RabbitNode], proxy_port: int, stats_port: int) -> None:
        self.nodes = nodes
        self.proxy_port = proxy_port
        self.stats_port = stats_port
        self._haproxy: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.proxy_port}/"

    def running(self) -> list[RabbitNode]:
        return [node for node in self.nodes if node.is_running()]

    def ctl(self, *arguments: str, check: bool = True) -> str:
        """``rabbitmqctl`` against a node that runs."""
        return self.running()[0].ctl(*arguments, check=check)

    def running_members(self) -> set[str]:
        """The nodes the cluster reports running."""
        status = self.ctl("cluster_status", "--formatter", "json")
        return set(json.loads(status)["running_nodes"])

    def wait_formed(self, seconds: float = FORM_SECONDS) -> None:
        names = {node.name for node in self.nodes}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(RuntimeError, ValueError, KeyError):
                if self.running_members() == names:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"the cluster did not form in {seconds}s: {self.ctl('cluster_status')}")

    def start_proxy(self, log: Path) -> None:
        env = {
            **os.environ,
            "INTERPLAY_HAPROXY_BIND": f"127.0.0.1:{self.proxy_port}",
            "INTERPLAY_HAPROXY_STATS_BIND": f"127.0.0.1:{self.stats_port}",
            **{
                f"INTERPLAY_RABBITMQ_NODE_{index}": f"127.0.0.1:{node.port}"
                for index, node in enumerate(self.nodes, start=1)
            },
        }
        with log.open("ab") as output:
            self._haproxy = subprocess.Popen(
                ["haproxy", "-db", "-f", str(HAPROXY_CFG)], env=env, stdout=output, stderr=output
            )

    def stop_proxy(self) -> None:
        if self._haproxy is not None:
            self._haproxy.send_signal(signal.SIGTERM)
            try:
                self._haproxy.wait(10)
            except subprocess.TimeoutExpired:
                self._haproxy.kill()
            self._haproxy = None


def skip_unless_haproxy() -> None:
    if shutil.which("haproxy") is None:
        why = "needs haproxy (scripts/install-deploy-tools.sh installs Debian's)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@contextmanager
def rabbitmq_cluster(size: int = 3) -> Iterator[Cluster]:
    """``size`` nodes formed into one cluster and HAProxy in front; all stopped afterwards."""
    skip_unless_nodes_can_start()
    skip_unless_haproxy()
    with contextlib.ExitStack() as stack:
        nodes: list[RabbitNode] = []
        for index in range(size):
            # Not pytest's tmp_path: the nodes run as the rabbitmq user, who must read these.
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"rmq{index}-")))
            folder.chmod(0o755)
            port = free_port()
            nodes.append(RabbitNode(folder, "", port, port))
        for node in nodes:
            (node.folder / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{node.port}\n"
                + cluster_conf([n.name for n in nodes])
            )
        cluster = Cluster(nodes, free_port(), free_port())
        for node in nodes:
            stack.callback(node.stop)
        for node in nodes:  # the first forms the cluster, the others join it as they boot
            node.start()
        cluster.wait_formed()
        stack.callback(cluster.stop_proxy)
        cluster.start_proxy(nodes[0].folder / "haproxy.log")
        yield cluster
