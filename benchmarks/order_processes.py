"""The reference system as it is deployed: one ``interplay run <domain>`` process per domain.

``OrderSystem`` runs every domain in the benchmark's own process, which can use one core. Here
each domain is a process of its own, as the compose file and the Helm chart run them, so the
system can use every core the broker leaves free. The storefront and its tap stay in this
process; the domains' CPU is read from ``/proc`` and counted with this process's.

By default each domain is one process on SQLite files in ``data_dir``, on the broker at ``url``.
The capacity benchmark also runs them on PostgreSQL (``database_url``, ``{domain}`` in it), as
``replicas`` processes per domain sharing its database (SQLite allows one writer process), with
settings of its own in ``environment`` (``INTERPLAY_QUEUE_REPLICAS`` on a cluster).
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.order_system import Storefront, handled
from domains.registry import DOMAINS
from orchestrators import Pattern

INTERPLAY = str(Path(sys.executable).with_name("interplay"))
READY_SECONDS = 60.0
STOP_SECONDS = 15.0


@dataclass
class DomainProcess:
    domain: str
    port: int
    process: asyncio.subprocess.Process

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as got:
                return got.status, got.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, ""


class OrderProcesses:
    """A ``FlowTarget``: every domain in a process of its own, and a storefront here."""

    def __init__(
        self,
        url: str,
        pattern: Pattern,
        data_dir: Path,
        *,
        database_url: str | None = None,
        replicas: int = 1,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        self.url = url
        self.pattern = pattern
        self.data_dir = data_dir
        self.database_url = database_url or f"sqlite+aiosqlite:///{data_dir}/{{domain}}.sqlite3"
        self.replicas = replicas
        self.environment = dict(environment or {})
        self.storefront = Storefront(url)
        self._domains: list[DomainProcess] = []

    async def start(self) -> None:
        environment = {
            **os.environ,
            "INTERPLAY_AMQP_URL": self.url,
            "INTERPLAY_DATABASE_URL": self.database_url,
            "INTERPLAY_PATTERN": self.pattern.value,
            "INTERPLAY_METRICS_HOST": "127.0.0.1",
            "INTERPLAY_LOG_LEVEL": "WARNING",
            **self.environment,
        }
        for domain in [name for name in DOMAINS for _ in range(self.replicas)]:
            port = _free_port()
            with (self.data_dir / f"{domain}.log").open("ab") as log:
                process = await asyncio.create_subprocess_exec(
                    INTERPLAY,
                    "run",
                    domain,
                    env={**environment, "INTERPLAY_METRICS_PORT": str(port)},
                    cwd=self.data_dir,  # no settings file of the caller's
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self._domains.append(DomainProcess(domain, port, process))
        try:
            await asyncio.gather(*(self._ready(domain) for domain in self._domains))
            await self.storefront.open()
        except BaseException:
            await self._stop_domains()
            raise

    async def stop(self) -> None:
        try:
            await self.storefront.close()
        finally:
            await self._stop_domains()

    async def run_flow(self) -> float:
        return await self.storefront.run_flow()

    def count(self) -> float:
        """Deliveries the domains have handled so far, from their ``/metrics``."""
        return sum(handled(text_string_to_metric_families(text)) for text in self.metrics())

    def processes(self) -> tuple[int, ...]:
        return tuple(domain.process.pid for domain in self._domains)

    def by_domain(self) -> dict[str, list[int]]:
        """The process ids of each domain's replicas."""
        pids: dict[str, list[int]] = {}
        for domain in self._domains:
            pids.setdefault(domain.domain, []).append(domain.process.pid)
        return pids

    def metrics(self) -> list[str]:
        """Every process's ``/metrics`` text, now."""
        return [domain.get("/metrics")[1] for domain in self._domains]

    async def _ready(self, domain: DomainProcess) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if domain.process.returncode is not None:
                raise RuntimeError(f"{domain.domain} exited: {self._log_tail(domain)}")
            try:
                if (await asyncio.to_thread(domain.get, "/readyz"))[0] == 200:
                    return
            except OSError:
                pass  # not listening yet
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{domain.domain} not ready in {READY_SECONDS:.0f} s")

    async def _stop_domains(self) -> None:
        for domain in self._domains:
            if domain.process.returncode is None:
                domain.process.terminate()
        for domain in self._domains:
            try:
                await asyncio.wait_for(domain.process.wait(), STOP_SECONDS)
            except TimeoutError:
                domain.process.kill()
                await domain.process.wait()
        self._domains.clear()

    def _log_tail(self, domain: DomainProcess) -> str:
        log = self.data_dir / f"{domain.domain}.log"
        return log.read_text(errors="replace")[-2000:] if log.exists() else "(no output)"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
