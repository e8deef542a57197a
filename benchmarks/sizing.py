"""The capacity model: from measured CPU per order to cores, nodes, replicas and queue shards.

Pure arithmetic, shared by ``python -m benchmarks.capacity`` (which prints it after measuring)
and ``docs/capacity.md`` (whose tables ``python -m benchmarks.sizing <capacity JSON>`` prints):

* cores = orders/s x CPU seconds per order / target utilisation;
* a domain process runs on one core (one Python event loop), so a domain needs
  ceil(orders/s x its CPU seconds per order / utilisation) replicas;
* broker nodes: at least three (a quorum of two survives one loss), more when its cores exceed
  what three nodes hold;
* one quorum queue is one Raft leader, bounded however many nodes there are: when a queue's
  messages/s pass its ceiling x utilisation, it is split into that many shards by routing key.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

UTILISATION = 0.6  # of each core: headroom for bursts, a lost node's share, GC and rebalancing
NODE_CORES = 8  # cores of one application or broker node in the model
BROKER_MINIMUM = 3  # a quorum queue's members
RATES = (100, 1_000, 10_000)


@dataclass(frozen=True, slots=True)
class Costs:
    """What one order costs a pattern, measured: CPU seconds per order by who pays, and the
    messages per order on its busiest queue."""

    domains: Mapping[str, float]  # CPU seconds per order, per domain (all its replicas)
    broker: float
    database: float
    busiest_queue: str
    busiest_messages: float  # per order, on that queue


@dataclass(frozen=True, slots=True)
class Sizing:
    """What ``rate`` orders/s need under one pattern."""

    rate: float
    domain_cores: float
    broker_cores: float
    database_cores: float
    replicas: Mapping[str, int]
    broker_nodes: int
    application_nodes: int
    queue_rate: float  # messages/s on the busiest queue
    queue_shards: int

    @property
    def cores(self) -> float:
        return self.domain_cores + self.broker_cores + self.database_cores


def cores(rate: float, cpu_seconds: float, utilisation: float = UTILISATION) -> float:
    """Cores that carry ``rate`` per second of work costing ``cpu_seconds`` each, busy at
    ``utilisation``: 1,000/s x 0.010 s / 0.6 = 16.7 cores."""
    if not 0 < utilisation <= 1:
        raise ValueError(f"utilisation must be within (0, 1], not {utilisation}")
    return rate * cpu_seconds / utilisation


def replicas(rate: float, cpu_seconds: float, utilisation: float = UTILISATION) -> int:
    """Processes of one role (each on one core) for ``rate``: at least one."""
    return max(1, math.ceil(cores(rate, cpu_seconds, utilisation) - 1e-9))


def nodes(needed_cores: float, node_cores: int = NODE_CORES, minimum: int = 1) -> int:
    """Nodes of ``node_cores`` cores holding ``needed_cores``, and never fewer than ``minimum``."""
    return max(minimum, math.ceil(needed_cores / node_cores - 1e-9))


def shards(queue_rate: float, ceiling: float, utilisation: float = UTILISATION) -> int:
    """Queues one queue's ``queue_rate`` messages/s must be split into, each kept at
    ``utilisation`` of a single queue's ``ceiling``."""
    return max(1, math.ceil(queue_rate / (ceiling * utilisation) - 1e-9))


def size(rate: float, costs: Costs, queue_ceiling: float) -> Sizing:
    """The model for ``rate`` orders/s from one pattern's measured ``costs``."""
    domain_cores = cores(rate, sum(costs.domains.values()))
    broker_cores = cores(rate, costs.broker)
    queue_rate = rate * costs.busiest_messages
    return Sizing(
        rate=rate,
        domain_cores=domain_cores,
        broker_cores=broker_cores,
        database_cores=cores(rate, costs.database),
        replicas={domain: replicas(rate, spent) for domain, spent in costs.domains.items()},
        broker_nodes=nodes(broker_cores, minimum=BROKER_MINIMUM),
        application_nodes=nodes(domain_cores),
        queue_rate=queue_rate,
        queue_shards=shards(queue_rate, queue_ceiling),
    )


def markdown(pattern: str, costs: Costs, queue_ceiling: float, rates: Sequence[float]) -> str:
    """One pattern's sizing at each of ``rates``, as a Markdown table."""
    lines = [
        f"| {pattern} | " + " | ".join(f"{rate:,.0f} orders/s" for rate in rates) + " |",
        "|---|" + "---:|" * len(rates),
    ]
    sized = [size(rate, costs, queue_ceiling) for rate in rates]
    rows = {
        "domain cores": [f"{s.domain_cores:,.1f}" for s in sized],
        "broker cores (3 replicas)": [f"{s.broker_cores:,.1f}" for s in sized],
        "PostgreSQL cores": [f"{s.database_cores:,.1f}" for s in sized],
        "cores in all": [f"{s.cores:,.1f}" for s in sized],
        f"application nodes ({NODE_CORES} cores)": [str(s.application_nodes) for s in sized],
        f"broker nodes ({NODE_CORES} cores, at least 3)": [str(s.broker_nodes) for s in sized],
        **{
            f"replicas of {domain}": [str(s.replicas[domain]) for s in sized]
            for domain in costs.domains
        },
        f"messages/s on `{costs.busiest_queue}`": [f"{s.queue_rate:,.0f}" for s in sized],
        "shards of that queue": [str(s.queue_shards) for s in sized],
    }
    lines += [f"| {name} | " + " | ".join(cells) + " |" for name, cells in rows.items()]
    return "\n".join(lines) + "\n"


def costs_of(variant: Mapping[str, Any]) -> Costs:
    """The ``Costs`` in one variant of a capacity JSON (``python -m benchmarks.capacity``)."""
    cpu, queue = variant["marginal_cpu_seconds_per_order"], variant["busiest_queue"]
    return Costs(
        domains=dict(cpu["by_domain"]),
        broker=float(cpu["broker"]),
        database=float(cpu["database"]),
        busiest_queue=str(queue["name"]),
        busiest_messages=float(queue["messages_per_order"]),
    )


def main() -> None:
    """``python -m benchmarks.sizing RESULTS.json [VARIANT]``: the tables of docs/capacity.md."""
    document = json.loads(Path(sys.argv[1]).read_text())
    chosen = sys.argv[2] if len(sys.argv) > 2 else "cluster + PostgreSQL"
    ceiling = float(document["quorum_queue"]["confirmed_per_second"])
    for variant in document["variants"]:
        if variant["setup"] == chosen:
            print(markdown(variant["pattern"], costs_of(variant), ceiling, RATES))


if __name__ == "__main__":
    main()
