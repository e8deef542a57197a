"""``python -m benchmarks.capacity``: orders/s and CPU per order of each pattern, as deployed.

Every domain is an ``interplay run <domain>`` process (``OrderProcesses``), in four setups, each
under orchestration and choreography: one RabbitMQ node (the local one, a fresh vhost) with
SQLite; that node with PostgreSQL (the broker's cost apart from the database's); a three-node
cluster (``tests.rabbitmq_cluster``: local ``rabbitmq-server`` nodes behind HAProxy, started
once, quorum queues on all three nodes) with PostgreSQL; and that cluster with two replicas of
every domain sharing its database. On the cluster it also measures one quorum queue's ceiling.
The figures feed the sizing model of docs/capacity.md (``benchmarks.sizing``). Needs root (the
cluster's nodes run as the ``rabbitmq`` user), ``haproxy`` and the local PostgreSQL.

Example::

    python -m benchmarks.capacity                       # everything, about 8 minutes
    python -m benchmarks.capacity --quick               # shorter windows, 4-5
    python -m benchmarks.capacity --only node-sqlite --json /tmp/capacity.json
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from yarl import URL

from benchmarks import capacity_report, postgres, quorum_ceiling
from benchmarks.capacity_load import BROKER, DATABASE, LoadPlan, measure
from benchmarks.cpu import listening_pid
from benchmarks.order_processes import OrderProcesses
from benchmarks.postgres import database_stem, fresh_databases
from benchmarks.process_cpu import Members, fixed, postgres_backends
from benchmarks.report import machine
from benchmarks.vhost import BROKER_URL, broker_version, fresh_vhost
from domains.registry import DOMAINS
from interplay.settings import Settings
from orchestrators import Pattern

DEFAULT_JSON = Path(__file__).parent / "results" / "capacity-latest.json"
console = Console(width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True, slots=True)
class Setup:
    key: str  # for --only
    name: str
    cluster: bool
    postgres: bool
    replicas: int  # processes per domain


SETUPS = (
    Setup("node-sqlite", "one node + SQLite", cluster=False, postgres=False, replicas=1),
    Setup("node-postgres", "one node + PostgreSQL", cluster=False, postgres=True, replicas=1),
    Setup("cluster-postgres", "cluster + PostgreSQL", cluster=True, postgres=True, replicas=1),
    Setup("cluster-postgres-2", "cluster + PostgreSQL, 2 replicas", True, True, replicas=2),
)
PATTERNS = (Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY)
FULL = LoadPlan()
QUICK = LoadPlan(warmup=1.5, seconds=5.0, steady_seconds=3.0, sample_orders=8, idle_seconds=2.0)
CEILING_MESSAGES = {"full": 20_000, "quick": 5_000}
NO_BUSY_WAIT = "+sbwt none +sbwtdcpu none +sbwtdio none"


async def run_all(setups: Sequence[Setup], plan: LoadPlan, mode: str) -> dict[str, Any]:
    """Every chosen setup under both patterns; the cluster's once for all, with the ceiling."""
    variants: list[dict[str, Any]] = []
    host_broker = fixed(pid for pid in [listening_pid(URL(BROKER_URL).port or 5672)] if pid)
    for setup in (setup for setup in setups if not setup.cluster):
        for pattern in PATTERNS:
            with fresh_vhost("interplay-cap") as url:
                variants.append(await variant(setup, pattern, url, host_broker, plan))
    ceiling = None
    if any(setup.cluster for setup in setups):
        from tests.rabbitmq_cluster import rabbitmq_cluster  # the fault tests' own cluster

        say("starting a three-node RabbitMQ cluster")
        # Three nodes share this machine's cores: schedulers that spin while idle would burn
        # them for each other and count as work; the host node keeps its own settings.
        os.environ.setdefault("RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", NO_BUSY_WAIT)
        with rabbitmq_cluster() as cluster:
            nodes = fixed(int((node.folder / "node.pid").read_text()) for node in cluster.nodes)
            for setup in (setup for setup in setups if setup.cluster):
                for pattern in PATTERNS:
                    with fresh_vhost("interplay-cap", cluster.url, cluster.ctl) as url:
                        variants.append(await variant(setup, pattern, url, nodes, plan))
            with fresh_vhost("interplay-cap", cluster.url, cluster.ctl) as url:
                say("one quorum queue's ceiling")
                ceiling = await quorum_ceiling.measure(
                    url, {BROKER: nodes}, len(cluster.nodes), CEILING_MESSAGES[mode]
                )
    return {"variants": variants, "quorum_queue": capacity_report.ceiling_json(ceiling)}


async def variant(
    setup: Setup, pattern: Pattern, url: str, broker: Members, plan: LoadPlan
) -> dict[str, Any]:
    say(f"{setup.name}, {pattern.value}")
    with ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="interplay-cap-")))
        others = {BROKER: broker}
        database_url = None
        transactions: Callable[[], int] | None = None
        if setup.postgres:
            database_url = stack.enter_context(fresh_databases(list(DOMAINS)))
            stem = database_stem(database_url)
            others[DATABASE] = postgres_backends(stem)
            transactions = partial(postgres.transactions, stem)
        system = OrderProcesses(
            url,
            pattern,
            data_dir,
            database_url=database_url,
            replicas=setup.replicas,
            environment=dict(environment(setup)),
        )
        figures = await measure(system, others, plan, transactions)
    say(capacity_report.line(figures))
    return capacity_report.variant_json(setup.name, setup.key, pattern, setup.replicas, figures)


def environment(setup: Setup) -> Iterator[tuple[str, str]]:
    """The settings a setup's processes run with, beyond ``OrderProcesses``'s own."""
    if setup.postgres:  # up to ten processes, each 2 x 4 connections, on a server of 100
        yield "INTERPLAY_DATABASE_POOL_SIZE", "4"
    if setup.cluster:
        yield "INTERPLAY_QUEUE_REPLICAS", "3"
        if "rpc_reply_to" in Settings.model_fields:  # replies that survive a node's loss
            yield "INTERPLAY_RPC_REPLY_TO", "queue"


def say(line: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')} {line}")


@contextmanager
def load_watch(context: dict[str, Any]) -> Iterator[None]:
    """The machine's load average at the start and the end, printed and kept with the run."""
    context["load_average_start"] = os.getloadavg()
    say(f"load average at start: {context['load_average_start']}")
    yield
    context["load_average_end"] = os.getloadavg()
    say(f"load average at end: {context['load_average_end']}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.capacity", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter windows, 4-5 minutes")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write figures")
    parser.add_argument(
        "--only", choices=[s.key for s in SETUPS], action="append", help="run only these setups"
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables as Markdown here")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    mode = "quick" if arguments.quick else "full"
    setups = [s for s in SETUPS if arguments.only is None or s.key in arguments.only]
    plan = QUICK if arguments.quick else FULL
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    context: dict[str, Any] = {"mode": mode, "started": now}
    started = time.monotonic()
    with load_watch(context):
        figures = asyncio.run(run_all(setups, plan, mode))
    document = {
        **context,
        "seconds": round(time.monotonic() - started, 1),
        "plan": asdict(plan),
        "rabbitmq": broker_version(),
        "machine": machine(),
        "argv": sys.argv[1:],
        **figures,
    }
    capacity_report.print_report(document, console)
    arguments.json.parent.mkdir(parents=True, exist_ok=True)
    arguments.json.write_text(capacity_report.dumps(document))
    if arguments.markdown is not None:
        arguments.markdown.write_text(capacity_report.markdown_tables(document))
    console.print(f"figures written to {arguments.json} in {document['seconds']} s")


if __name__ == "__main__":
    main()
