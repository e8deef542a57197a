"""Run what the Helm chart's Deployments say, here: their commands and environments as local
processes against the local RabbitMQ.

Host names become 127.0.0.1, each process gets its own metrics port, SQLite files go to a
temporary folder and the broker URL points at a vhost the test creates and deletes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.deploy.deploy_harness import INTERPLAY, run, tool

LOCAL_BROKER = "127.0.0.1:5672"
READY_TIMEOUT = 60.0


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def http_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        text: str = response.read().decode()
        return text


# --- the broker ---------------------------------------------------------------------------


def rabbitmqctl(*args: str) -> str:
    return run(tool("rabbitmqctl"), *args).stdout


@contextmanager
def throwaway_vhost(purpose: str) -> Iterator[str]:
    """A fresh vhost where guest may do anything; deleted afterwards with all it holds."""
    name = f"interplay-deploy-{purpose}-{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    try:
        yield name
    finally:
        rabbitmqctl("delete_vhost", name)


def amqp_url(vhost: str, user: str = "guest", password: str = "guest") -> str:
    return (
        f"amqp://{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
        f"@{LOCAL_BROKER}/{urllib.parse.quote(vhost, safe='')}"
    )


# --- processes ----------------------------------------------------------------------------


@dataclass
class DomainProcess:
    """One process started from a compose service or a rendered Deployment."""

    name: str
    argv: list[str]
    environment: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no output)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def localize(
    environment: dict[str, Any], *, amqp: str, port: int, data_dir: Path
) -> dict[str, str]:
    """A deploy file's environment, pointed at this machine.

    Values that come from Kubernetes Secrets (dicts with secretKeyRef) are the only ones
    replaced besides the broker URL, the metrics address and the SQLite folder.
    """
    local: dict[str, str] = {}
    for name, value in environment.items():
        if name == "INTERPLAY_AMQP_URL":
            local[name] = amqp
        elif name == "INTERPLAY_METRICS_PORT":
            local[name] = str(port)
        elif name == "INTERPLAY_METRICS_HOST":
            local[name] = "127.0.0.1"
        elif name == "INTERPLAY_DATABASE_URL" and isinstance(value, dict):
            # A database Secret (PostgreSQL in production): a SQLite file of the domain here.
            local[name] = f"sqlite+aiosqlite:///{data_dir}/{{domain}}.sqlite3"
        elif name == "INTERPLAY_DATABASE_URL":
            # The container's /data volume is a folder of this test.
            local[name] = str(value).replace(
                "sqlite+aiosqlite:////data/", f"sqlite+aiosqlite:///{data_dir}/"
            )
        elif isinstance(value, dict):
            raise AssertionError(f"{name} comes from {value}: the test cannot map it")
        else:
            local[name] = str(value)
    local.setdefault("INTERPLAY_AMQP_URL", amqp)
    local.setdefault("INTERPLAY_METRICS_PORT", str(port))
    local["INTERPLAY_METRICS_HOST"] = "127.0.0.1"
    local["PATH"] = f"{INTERPLAY.parent}:{os.environ.get('PATH', '')}"
    local["HOME"] = str(data_dir)
    local["PYTHONUNBUFFERED"] = "1"
    return local


def image_command(entrypoint: list[str], command: list[str]) -> list[str]:
    """What the container runs: the image's ENTRYPOINT `interplay` is this venv's interplay."""
    assert entrypoint == ["interplay"], entrypoint
    return [str(INTERPLAY), *command]


@dataclass
class Fleet:
    """Processes started together, stopped together."""

    processes: list[DomainProcess] = field(default_factory=list)

    def start(self, workdir: Path) -> None:
        for process in self.processes:
            handle = process.log.open("wb")
            process.process = subprocess.Popen(
                process.argv,
                env=process.environment,
                cwd=workdir,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        pending = list(self.processes)
        while pending:
            for process in list(pending):
                assert process.process is not None
                if process.process.poll() is not None:
                    raise AssertionError(
                        f"{process.name} ({' '.join(process.argv[1:])}) exited with "
                        f"{process.process.returncode}:\n{process.log_tail()}"
                    )
                if http_status(f"{process.base_url}/readyz") == 200:
                    pending.remove(process)
            if pending and time.monotonic() > deadline:
                details = "\n\n".join(
                    f"{p.name}: /healthz {http_status(p.base_url + '/healthz')}, "
                    f"/readyz {http_status(p.base_url + '/readyz')}\n{p.log_tail()}"
                    for p in pending
                )
                raise AssertionError(f"not ready after {timeout:.0f}s:\n{details}")
            time.sleep(0.3)

    def stop(self) -> None:
        for process in self.processes:
            if process.process and process.process.poll() is None:
                os.killpg(process.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            if process.process is None:
                continue
            try:
                process.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.process.pid, signal.SIGKILL)
                process.process.wait()


@contextmanager
def running(fleet: Fleet, workdir: Path) -> Iterator[Fleet]:
    try:
        fleet.start(workdir)
        fleet.wait_ready()
        yield fleet
    finally:
        fleet.stop()


# --- Prometheus ---------------------------------------------------------------------------


def has_data(result: list[dict[str, Any]]) -> bool:
    """At least one series with a number (not NaN) in an instant query result."""
    return any(sample["value"][1] not in ("NaN", "+Inf", "-Inf") for sample in result)
