"""Make sure a RabbitMQ is reachable for the quick start and the tests (design §7).

In order: the broker at the URL is up already; a Docker engine is reachable, so a RabbitMQ
container is started through the Docker SDK; ``rabbitmq-server`` is installed, so it is started.
Otherwise ``BrokerUnavailable`` says what to install (``scripts/ensure-rabbitmq`` installs it).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

from yarl import URL

IMAGE = "rabbitmq:3.13-management"
CONTAINER = "interplay-rabbitmq"


class BrokerUnavailable(RuntimeError):
    """No broker is reachable and none could be started here."""


def reachable(url: str, timeout: float = 1.0) -> bool:
    parsed = URL(url)
    port = parsed.port or (5671 if parsed.scheme == "amqps" else 5672)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def ensure(url: str, wait_seconds: float = 60.0) -> str:
    """Return how the broker was made reachable: 'running', 'docker' or 'local'."""
    if reachable(url):
        return "running"
    if _start_in_docker():
        how = "docker"
    elif shutil.which("rabbitmq-server"):
        subprocess.run(["rabbitmq-server", "-detached"], check=True)
        how = "local"
    else:
        raise BrokerUnavailable(
            "no RabbitMQ at the URL, no Docker engine and no rabbitmq-server installed: "
            "run scripts/ensure-rabbitmq (it installs the Debian package) or set INTERPLAY_AMQP_URL"
        )
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if reachable(url):
            return how
        time.sleep(0.5)
    raise BrokerUnavailable(f"started RabbitMQ ({how}) but it did not listen in {wait_seconds}s")


def _start_in_docker() -> bool:
    try:
        import docker  # the Docker SDK: only used when an engine answers
        from docker.errors import DockerException, NotFound
    except ImportError:
        return False
    try:
        client = docker.from_env()
        client.ping()
    except DockerException:
        return False
    try:
        client.containers.get(CONTAINER).start()
    except NotFound:
        client.containers.run(
            IMAGE,
            name=CONTAINER,
            detach=True,
            ports={"5672/tcp": 5672, "15672/tcp": 15672, "15692/tcp": 15692},
        )
    return True
