"""The capacity model's arithmetic (docs/capacity.md), and how CPU per process group is summed."""

from __future__ import annotations

import pytest

from benchmarks.process_cpu import spent
from benchmarks.sizing import Costs, cores, costs_of, markdown, nodes, replicas, shards, size

COSTS = Costs(
    domains={"orders": 0.010, "payments": 0.005},
    broker=0.020,
    database=0.003,
    busiest_queue="orders.inbox",
    busiest_messages=2.0,
)


def test_cores_are_the_rate_times_the_cpu_per_order_over_the_utilisation() -> None:
    assert cores(1_000, 0.010, 0.6) == pytest.approx(16.667, abs=1e-3)
    assert cores(100, 0.030, 1.0) == pytest.approx(3.0)


def test_a_utilisation_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="utilisation"):
        cores(100, 0.01, 0)
    with pytest.raises(ValueError, match="utilisation"):
        cores(100, 0.01, 1.5)


def test_a_role_gets_one_process_per_core_it_needs_and_never_none() -> None:
    assert replicas(1_000, 0.0012, 0.6) == 2  # exactly 2.0 cores: not rounded up to 3
    assert replicas(1_000, 0.0013, 0.6) == 3
    assert replicas(1, 0.0001) == 1


def test_a_quorum_needs_three_broker_nodes_however_little_the_load() -> None:
    assert nodes(0.5, node_cores=8, minimum=3) == 3
    assert nodes(30, node_cores=8, minimum=3) == 4
    assert nodes(16, node_cores=8) == 2


def test_a_queue_is_sharded_once_its_rate_passes_its_ceiling_at_the_utilisation() -> None:
    assert shards(1_000, ceiling=2_000, utilisation=0.6) == 1
    assert shards(1_300, ceiling=2_000, utilisation=0.6) == 2
    assert shards(20_000, ceiling=2_000, utilisation=0.6) == 17


def test_the_model_adds_each_payers_cores_and_sizes_each_role_apart() -> None:
    sized = size(1_000, COSTS, queue_ceiling=2_000)
    assert sized.domain_cores == pytest.approx(25.0)  # 1,000 x 0.015 / 0.6
    assert sized.broker_cores == pytest.approx(33.333, abs=1e-3)
    assert sized.database_cores == pytest.approx(5.0)
    assert sized.cores == pytest.approx(63.333, abs=1e-3)
    assert dict(sized.replicas) == {"orders": 17, "payments": 9}
    assert (sized.application_nodes, sized.broker_nodes) == (4, 5)
    assert (sized.queue_rate, sized.queue_shards) == (2_000, 2)


def test_the_costs_are_read_from_a_variant_of_the_capacity_json() -> None:
    variant = {
        "marginal_cpu_seconds_per_order": {
            "domains": 0.015,
            "broker": 0.020,
            "database": 0.003,
            "storefront": 0.001,
            "by_domain": {"orders": 0.010, "payments": 0.005},
        },
        "busiest_queue": {"name": "orders.inbox", "messages_per_order": 2.0},
    }
    assert costs_of(variant) == COSTS


def test_the_markdown_table_has_a_column_per_rate_and_a_row_per_role() -> None:
    table = markdown("orchestration", COSTS, 2_000, (100, 1_000)).splitlines()
    assert table[0] == "| orchestration | 100 orders/s | 1,000 orders/s |"
    assert "| replicas of payments | 1 | 9 |" in table
    assert "| shards of that queue | 1 | 2 |" in table


def test_cpu_spent_counts_a_process_seen_only_at_the_end_from_its_start() -> None:
    start = {"broker": {1: 10.0, 2: 5.0}, "database": {7: 1.0}}
    end = {"broker": {1: 12.0, 2: 5.5}, "database": {7: 1.5, 8: 0.25}}
    assert spent(start, end) == {"broker": pytest.approx(2.5), "database": pytest.approx(0.75)}
