"""A three-node RabbitMQ cluster behind HAProxy, on this host: one node killed with SIGKILL while
orders flow, then started again. Every order still ends once, no effect repeats, the domains see
a pause and no more, and every queue is a quorum queue on all three nodes, the delay queues
included (docs/reliability.md, "A cluster"). Not in the default run (marker ``local_cluster``:
the compose cluster tier takes the same faults in containers); ``make cluster-local`` runs it.
Bigger runs by hand:
``python -m tests.faults.kill_run --orders 1000 --victims '' --cluster --runs 3``."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrators import Pattern
from tests.faults.kill_run import run

pytestmark = [pytest.mark.e2e, pytest.mark.local_cluster]

ORDERS = 300


@pytest.mark.parametrize(
    ("pattern", "seed"), [(Pattern.ORCHESTRATION, 1), (Pattern.CHOREOGRAPHY, 2)]
)
async def test_a_node_killed_under_orders_loses_nothing_and_pauses_the_flows_briefly(
    pattern: Pattern, seed: int, tmp_path: Path
) -> None:
    figures = await run(ORDERS, (), tmp_path, seed=seed, pattern=pattern, cluster=True)
    print(pattern.value, figures.line())
    assert figures.broker_restarts == 1  # the node was killed (and started again)
    assert figures.problems == []  # audit: stock, money, notifications; queues replicated
    assert figures.lost == 0
    assert figures.duplicated_effects == 0
    assert figures.completed + figures.cancelled == ORDERS
    # Events flowed again soon after the kill: on two busy cores HAProxy's 2 s to mark the node
    # down, quorum leader elections and ten processes reconnecting took up to 6 s here.
    assert figures.pause_seconds < 30
    # The run itself checks the rest: every process ready and every queue consumed again within
    # 60 s of the kill (else a problem above), the killed node back in the cluster (else the
    # run raises).
