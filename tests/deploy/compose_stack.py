"""The compose stack in real containers: the engine, the compose command, the README's commands.

The engine is the project's own dockerd (scripts/install-container-engine), with its own socket,
so nothing here touches another engine on the machine. Each stack gets a project name and host
ports of its own, so it runs beside the RabbitMQ already on the host's 5672.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
from docker.models.containers import Container

from tests.deploy.deploy_harness import COMPOSE_FILE, REPO, free_port

ENGINE_SCRIPT = REPO / "scripts" / "install-container-engine"
README = REPO / "README.md"
# How the README (and docs/deploy.md) write the compose command.
DOCUMENTED_COMPOSE = "docker compose -f deploy/compose/docker-compose.yml"
DOCUMENTED_ENV_FILE = "deploy/compose/.env"
PORT_VARIABLES = (
    "INTERPLAY_AMQP_PORT",
    "INTERPLAY_MANAGEMENT_PORT",
    "INTERPLAY_RABBITMQ_METRICS_PORT",
    "INTERPLAY_PROMETHEUS_PORT",
)


FIGURES: list[str] = []  # what the stack measured; printed at the end of the run (conftest)


def report(figure: str) -> None:
    FIGURES.append(figure)


class EngineUnavailable(RuntimeError):
    """The project's Docker engine could not be installed, started or reached."""


def start_engine() -> str:
    """Install and start the engine (idempotent, quick when it runs); its DOCKER_HOST."""
    if os.geteuid() != 0:
        raise EngineUnavailable("scripts/install-container-engine needs root (apt, dockerd)")
    result = subprocess.run(
        [str(ENGINE_SCRIPT), "install", "start", "host"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise EngineUnavailable(
            f"{ENGINE_SCRIPT.name} install start failed ({result.returncode}): "
            f"{result.stderr.strip()[-1500:]}"
        )
    host = result.stdout.strip().splitlines()[-1]
    try:
        docker.DockerClient(base_url=host).ping()
    except docker.errors.DockerException as error:
        raise EngineUnavailable(f"dockerd at {host} does not answer: {error}") from error
    return host


def build_images(docker_host: str) -> dict[str, str]:
    """Every image the stack runs, built from Debian and deploy/Dockerfile; their variables."""
    started = time.monotonic()
    result = subprocess.run(
        [str(ENGINE_SCRIPT), "images"],
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
        env={**os.environ, "DOCKER_HOST": docker_host},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    images = dict(line.split("=", 1) for line in result.stdout.split())
    report(f"images ready in {time.monotonic() - started:.0f} s")
    return images


def compose_command() -> list[str]:
    """``docker compose`` (v2) where the plugin is there, else Debian's ``docker-compose`` 1.29."""
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if probe.returncode == 0:
        return ["docker", "compose"]
    found = shutil.which("docker-compose")
    assert found, "neither `docker compose` nor docker-compose: run scripts/install-deploy-tools.sh"
    return [found]


def readme_commands() -> list[str]:
    """The shell commands of README's "With Docker" section, as bash would read them.

    A command goes on over lines while a single quote is open (the order's JSON); a comment is
    two spaces and ``#`` to the end of a line.
    """
    section = README.read_text().split("### With Docker", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README's With Docker section has no ```bash block"
    commands, pending = [], ""
    for line in block.group(1).splitlines():
        if not pending and line.lstrip().startswith("#"):
            continue
        pending = f"{pending}\n{line}" if pending else line
        if pending.count("'") % 2 == 0:
            commands.append(re.sub(r"\s{2,}#[^'\n]*$", "", pending).strip())
            pending = ""
    assert not pending, f"unclosed quote in README's With Docker block: {pending}"
    return [command for command in commands if command]


@dataclass
class Stack:
    """One compose project: its env file, host ports and containers."""

    docker_host: str
    workdir: Path
    project: str = field(default_factory=lambda: f"interplay-ci-{uuid.uuid4().hex[:6]}")
    compose_file: Path = COMPOSE_FILE

    def __post_init__(self) -> None:
        self.env_file = self.workdir / ".env"
        self.client = docker.DockerClient(base_url=self.docker_host)
        self.prefix = [*compose_command(), "-p", self.project]
        self.prefix += ["--env-file", str(self.env_file), "-f", str(self.compose_file)]
        self.engine_before = self.engine_objects()

    @property
    def environ(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.docker_host}

    def shell(self, documented: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """A documented command as written, on this project, its env file and this engine."""
        command = documented.replace(DOCUMENTED_COMPOSE, shlex.join(self.prefix)).replace(
            DOCUMENTED_ENV_FILE, str(self.env_file)
        )
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=REPO,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*self.prefix, *args],
            cwd=REPO,
            env=self.environ,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert result.returncode == 0, f"compose {' '.join(args)}:\n{result.stderr[-3000:]}"
        return result

    def set(self, **variables: str) -> None:
        """Append to the env file; compose takes the last value of a variable."""
        with self.env_file.open("a") as env:
            env.writelines(f"{name}={value}\n" for name, value in variables.items())

    def choose_free_ports(self) -> None:
        self.set(**{name: str(free_port()) for name in PORT_VARIABLES})

    def variables(self) -> dict[str, str]:
        values: dict[str, str] = {}
        for line in self.env_file.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                name, value = line.split("=", 1)
                values[name] = value
        return values

    def url(self, port_variable: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.variables()[port_variable]}{path}"

    def amqp_url(self, user: str) -> str:
        password = self.variables()[
            "RABBITMQ_ADMIN_PASSWORD" if user == "admin" else f"{user.upper()}_PASSWORD"
        ]
        return f"amqp://{user}:{password}@127.0.0.1:{self.variables()['INTERPLAY_AMQP_PORT']}/"

    def containers(self) -> list[Container]:
        """Every container of the project, stopped ones too."""
        label = f"com.docker.compose.project={self.project}"
        found: list[Container] = self.client.containers.list(all=True, filters={"label": label})
        return found

    def container(self, service: str) -> Container:
        for container in self.containers():
            if container.labels.get("com.docker.compose.service") == service:
                return container
        raise LookupError(f"no container for service {service}")

    def replicas(self, service: str) -> list[Container]:
        """Every container of a service (``scale``), in the order of their numbers."""
        labels = "com.docker.compose.service", "com.docker.compose.container-number"
        found = [c for c in self.containers() if c.labels.get(labels[0]) == service]
        return sorted(found, key=lambda c: int(c.labels.get(labels[1], 0)))

    def health(self, service: str) -> str:
        container = self.container(service)
        container.reload()
        state: dict[str, Any] = container.attrs["State"]
        return str(state.get("Health", {}).get("Status", state["Status"]))

    def wait_healthy(self, services: Iterable[str], timeout: float) -> float:
        """Seconds until every one of ``services`` is healthy; fails naming those that are not."""
        started = time.monotonic()
        pending = set(services)
        while pending:
            pending = {service for service in pending if self.health(service) != "healthy"}
            if not pending:
                break
            if time.monotonic() - started > timeout:
                states = {service: self.health(service) for service in pending}
                logs = {s: self.logs(s, 15) for s in pending}
                raise AssertionError(f"not healthy within {timeout:.0f} s: {states}\n{logs}")
            time.sleep(0.5)
        return time.monotonic() - started

    def logs(self, service: str, lines: int = 40) -> str:
        return self.container(service).logs(tail=lines).decode(errors="replace")

    def engine_objects(self) -> dict[str, set[str]]:
        return {
            "containers": {c.name for c in self.client.containers.list(all=True)},
            "networks": {n.name for n in self.client.networks.list()},
            "volumes": {v.name for v in self.client.volumes.list()},
        }

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, networks and volumes on the engine that were not there before this stack:
        its own, and anonymous ones too (an image's VOLUME), which carry no project label."""
        now = self.engine_objects()
        return {kind: sorted(now[kind] - self.engine_before[kind]) for kind in now}
