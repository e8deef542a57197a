"""The flow benchmark's targets work: each ends its flows, counts a flow's deliveries as
docs/patterns.md counts them, and has its CPU read. No timing is asserted here; the figures are
``make bench``'s."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.cpu import CpuClock
from benchmarks.flow_load import FlowTarget, quiet
from benchmarks.interplay_chain import InterplayChain
from benchmarks.order_processes import OrderProcesses
from benchmarks.order_system import OrderSystem
from benchmarks.plain_chain import PlainChain
from domains.registry import DOMAINS
from orchestrators import Pattern
from tests.databases import fresh_databases
from tests.rabbitmq import fresh_vhost

FLOWS = 3
# One happy order, as docs/patterns.md counts its hops (the benchmark's tap not included).
HOPS = {Pattern.ORCHESTRATION: 27, Pattern.CHOREOGRAPHY: 17}

Make = Callable[[str, Path], FlowTarget]
TARGETS: dict[str, tuple[Make, int]] = {
    "plain chain": (lambda url, _: PlainChain(url, 5), 5),
    "interplay chain": (lambda url, _: InterplayChain(url, 5), 5),
    **{
        f"{pattern.value} in this process": (
            lambda url, data, pattern=pattern: OrderSystem(url, pattern, data),
            HOPS[pattern],
        )
        for pattern in Pattern
    },
    **{
        f"{pattern.value}, a process per domain": (
            lambda url, data, pattern=pattern: OrderProcesses(url, pattern, data),
            HOPS[pattern],
        )
        for pattern in Pattern
    },
}


@pytest.mark.parametrize("name", TARGETS)
async def test_a_target_ends_its_flows_and_counts_their_deliveries(
    name: str, tmp_path: Path
) -> None:
    make, hops = TARGETS[name]
    with fresh_vhost("interplay-bench-target") as url:  # a system's queues of its own
        target = make(url, tmp_path)
        clock = CpuClock(url)
        await target.start()
        try:
            await target.run_flow()  # warm up: the first flow declares and connects
            await quiet(target)
            before, cpu_before = target.count(), clock.sample(target.processes())
            latencies = await asyncio.gather(*(target.run_flow() for _ in range(FLOWS)))
            await quiet(target)
            after, cpu_after = target.count(), clock.sample(target.processes())
            others = target.processes()
        finally:
            await target.stop()
    assert all(latency > 0 for latency in latencies)
    assert (after - before) / FLOWS == hops
    assert cpu_after.process > cpu_before.process
    if cpu_before.broker is not None:  # the local broker, when this user may read it
        assert cpu_after.broker is not None and cpu_after.broker >= cpu_before.broker
    if isinstance(target, OrderProcesses):
        assert len(others) == 5 and os.getpid() not in others
    else:
        assert others == ()


async def test_the_capacity_benchmarks_replicas_share_their_domains_postgresql_database(
    tmp_path: Path,
) -> None:
    with (
        fresh_vhost("interplay-bench-target") as url,
        fresh_databases("postgresql", tmp_path) as database_url,
    ):
        target = OrderProcesses(
            url,
            Pattern.ORCHESTRATION,
            tmp_path,
            database_url=database_url,
            replicas=2,
            environment={"INTERPLAY_DATABASE_POOL_SIZE": "2"},
        )
        await target.start()
        try:
            latencies = await asyncio.gather(*(target.run_flow() for _ in range(FLOWS)))
            replicas = target.by_domain()
        finally:
            await target.stop()
    assert all(latency > 0 for latency in latencies)
    assert {domain: len(pids) for domain, pids in replicas.items()} == dict.fromkeys(DOMAINS, 2)
