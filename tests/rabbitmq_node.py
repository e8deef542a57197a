"""A RabbitMQ node of a test's own, beside the shared broker on 5672.

Tests that stop, restart or alarm a broker, or need a listener the shared one does not have (TLS),
start one of these: its own node name, ports, data, logs and config, in a temporary folder the
``rabbitmq`` user can read. Stopping, restarting or blocking it disturbs nobody else, so those
tests run in CI like any other. Starting a node takes 3-10 s on this machine class.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.processes import free_port

RABBITMQ_SERVER = "/usr/sbin/rabbitmq-server"  # as root it runs the node as the rabbitmq user
START_SECONDS = 60


class RabbitNode:
    """A running private node: its AMQP port, ``rabbitmqctl`` against it, stop and start."""

    def __init__(self, folder: Path, listeners: str, port: int, node_port: int) -> None:
        self.folder = folder
        self.port = port
        self.name = f"interplay-test-{uuid.uuid4().hex[:6]}@localhost"
        config = folder / "rabbitmq.conf"
        config.write_text(listeners)
        (folder / "enabled_plugins").write_text("[].\n")  # no management or prometheus port
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(node_port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_PID_FILE": str(folder / "node.pid"),
            "RABBITMQ_CONFIG_FILE": str(config),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        }
        self.log = folder / "node.out"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The AMQP URL of the node's default vhost, as guest (allowed from 127.0.0.1)."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def ctl(self, *arguments: str, check: bool = True) -> str:
        """``rabbitmqctl`` against this node."""
        result = subprocess.run(
            ["rabbitmqctl", "-q", "-n", self.name, *arguments],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(arguments)} failed: {result.stderr.strip()}")
        return result.stdout

    def consumer_counts(self, vhost: str) -> dict[str, int]:
        """Consumers per queue the domains consume on ``vhost``: not the dead-letter and delay
        queues (consumed by none) or a test's own (``tests.*``, ``amq.*``)."""
        listed = self.ctl("list_queues", "-p", vhost, "name", "consumers")
        return {
            name: int(count)
            for name, _, count in (line.partition("\t") for line in listed.splitlines())
            if count.strip().isdigit()
            and not name.startswith(("amq.", "tests."))
            and "dead-letter" not in name
            and ".retry." not in name
        }

    def alarms(self) -> str:
        """What ``rabbitmq-diagnostics alarms`` reports for this node."""
        return subprocess.run(
            ["rabbitmq-diagnostics", "-q", "-n", self.name, "alarms"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    def start(self) -> None:
        for path in (self.folder, *self.folder.iterdir()):
            shutil.chown(path, "rabbitmq", "rabbitmq")
        with (self.folder / "node.out").open("ab") as output:
            self._process = subprocess.Popen(
                [RABBITMQ_SERVER], env=self.env, stdout=output, stderr=output
            )
        self.wait_listening(START_SECONDS)

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def kill(self) -> None:
        """SIGKILL the node's Erlang VM, as a crashed machine stops it: no goodbye to peers or
        clients; they find out from the closed sockets."""
        os.kill(int((self.folder / "node.pid").read_text().strip()), signal.SIGKILL)
        if self._process is not None:
            self._process.wait(30)
            self._process = None

    def stop(self) -> None:
        """Stop the whole node (the Erlang VM), as a server restart does."""
        self.ctl("stop", check=False)
        if self._process is not None:
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            self._process = None

    def restart(self) -> None:
        """A full restart of the server: the VM stops and starts again on the same data."""
        self.stop()
        self.start()

    def restart_app(self) -> None:
        """``rabbitmqctl stop_app`` then ``start_app``: the VM stays, RabbitMQ restarts."""
        self.ctl("stop_app")
        self.ctl("start_app")
        self.wait_listening(START_SECONDS)

    def wait_listening(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"the node {self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not listen on {self.port} in {seconds}s")


def skip_unless_nodes_can_start() -> None:
    """Skip on a developer machine that cannot start a node; in CI (``CI`` set) fail instead, so
    that a missing install step shows."""
    if os.geteuid() != 0 or not Path(RABBITMQ_SERVER).exists():
        why = "needs root and the rabbitmq-server package to start a node of the test's own"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


@contextmanager
def rabbitmq_node(
    prefix: str = "interplay-node", listeners: Callable[[Path, int], str] | None = None
) -> Iterator[RabbitNode]:
    """A private node, stopped and deleted afterwards.

    ``listeners(folder, port)`` gives the node's ``rabbitmq.conf`` (default: plain AMQP on
    127.0.0.1 at ``port``); it may write files into ``folder`` (certificates, say).
    """
    skip_unless_nodes_can_start()
    port = free_port()
    # Not pytest's tmp_path: the node runs as the rabbitmq user, who must read these files.
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)
        if listeners is None:
            node = RabbitNode(folder, f"listeners.tcp.default = 127.0.0.1:{port}\n", port, port)
        else:  # the plain AMQP port is not the one listened on: keep it out of the way
            node = RabbitNode(folder, listeners(folder, port), port, free_port())
        try:
            node.start()
            yield node
        finally:
            node.stop()
