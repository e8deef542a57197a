"""One variant of the capacity benchmark: the system as processes, driven to saturation.

What it measures, in order: the messages one order puts on each queue (a batch of orders between
two quiet moments, counted from the domains' metrics); orders/s at saturation with ``in_flight``
orders always running (one placed as one ends), the CPU of every group of processes in that
window (each domain's replicas, the broker's nodes, PostgreSQL's backends, the storefront in this
process) and the latency of the orders that ended in it; then p50/p99 at a steady rate of
``share`` of that saturation, as docs/performance.md reports latency.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from benchmarks.flow_load import Latency, quiet, steady
from benchmarks.order_processes import OrderProcesses
from benchmarks.order_system import CONSUMED
from benchmarks.process_cpu import STOREFRONT, Members, Sample, fixed, sample, spent
from benchmarks.stats import percentile

BROKER = "broker"
DATABASE = "database"
DOMAIN = "domain:"  # prefix of each domain's group
STATISTICS_LAG = 1.2  # seconds: PostgreSQL publishes a backend's statistics once a second


@dataclass(frozen=True, slots=True)
class LoadPlan:
    in_flight: int = 16
    warmup: float = 3.0
    seconds: float = 15.0  # the saturation window
    steady_seconds: float = 8.0
    share: float = 0.6  # of saturation: the steady rate whose latency is reported
    sample_orders: int = 16  # placed to count the messages per order on each queue
    idle_seconds: float = 4.0  # with no order in flight: what the processes cost doing nothing


@dataclass(frozen=True, slots=True)
class VariantRun:
    orders_per_second: float
    failed: int
    cpu_per_order: dict[str, float]  # seconds, by group, all the window's CPU over its orders
    idle_cpu: dict[str, float]  # seconds per second, by group, with no order in flight
    saturated_p50: float
    saturated_p99: float
    steady: Latency
    queue_messages: dict[str, float]  # per order, by queue
    transactions: float | None  # per order, in PostgreSQL (None on SQLite)


async def measure(
    system: OrderProcesses,
    others: Mapping[str, Members],
    plan: LoadPlan,
    transactions: Callable[[], int] | None = None,
) -> VariantRun:
    """Start ``system``, measure it, stop it; ``others`` are the broker and database groups,
    ``transactions`` counts the database's transactions so far, where it can."""
    await system.start()
    try:
        await _orders(system, plan.in_flight)  # warm up
        await quiet(system)
        await asyncio.sleep(STATISTICS_LAG)
        before, committed = _consumed(system), transactions() if transactions else 0
        await _orders(system, plan.sample_orders)
        await quiet(system)
        await asyncio.sleep(STATISTICS_LAG)
        after = _consumed(system)
        queues = {name: (after[name] - before[name]) / plan.sample_orders for name in after}
        per_order = None
        if transactions:
            per_order = (transactions() - committed) / plan.sample_orders
        groups = {
            **{DOMAIN + name: fixed(pids) for name, pids in system.by_domain().items()},
            **others,
        }
        idle = sample(groups)
        await asyncio.sleep(plan.idle_seconds)
        idle_cpu = {k: v / plan.idle_seconds for k, v in spent(idle, sample(groups)).items()}
        rate, failed, cpu, latencies = await _saturate(system, groups, plan)
        await quiet(system)
        at_share = await steady(system, max(1.0, plan.share * rate), plan.steady_seconds)
        await quiet(system)
    finally:
        await system.stop()
    return VariantRun(
        orders_per_second=rate,
        failed=failed,
        cpu_per_order=cpu,
        idle_cpu=idle_cpu,
        saturated_p50=percentile(latencies, 50),
        saturated_p99=percentile(latencies, 99),
        steady=at_share,
        queue_messages={name: count for name, count in queues.items() if count > 0},
        transactions=per_order,
    )


async def _saturate(
    system: OrderProcesses, groups: Mapping[str, Members], plan: LoadPlan
) -> tuple[float, int, dict[str, float], list[float]]:
    """Orders ended per second in the window, failures, CPU seconds per order by group, and the
    latencies of the orders that ended in the window."""
    loop = asyncio.get_running_loop()
    window = (loop.time() + plan.warmup, loop.time() + plan.warmup + plan.seconds)
    samples: list[asyncio.Future[Sample]] = [loop.create_future() for _ in window]
    for at, taken in zip(window, samples, strict=True):
        loop.call_at(at, _take, taken, groups)
    latencies: list[float] = []
    failed = 0

    async def keep_one_running(index: int) -> None:
        nonlocal failed
        await asyncio.sleep(index * plan.warmup / (2 * plan.in_flight))  # no lockstep
        while loop.time() < window[1]:
            try:
                took = await system.run_flow()
            except Exception:  # a step timed out: counted, and the loop goes on
                failed += 1
                continue
            if window[0] <= loop.time() <= window[1]:
                latencies.append(took)

    await asyncio.gather(*(keep_one_running(index) for index in range(plan.in_flight)))
    if not latencies:
        raise RuntimeError(f"no order ended in {plan.seconds:g} s at saturation")
    used = spent(await samples[0], await samples[1])
    cpu = {name: seconds / len(latencies) for name, seconds in used.items()}
    return len(latencies) / plan.seconds, failed, cpu, latencies


def _take(taken: asyncio.Future[Sample], groups: Mapping[str, Members]) -> None:
    taken.set_result(sample(groups))


async def _orders(system: OrderProcesses, count: int) -> None:
    """``count`` orders at once; one that fails shows in the saturation's count of failures."""
    await asyncio.gather(*(system.run_flow() for _ in range(count)), return_exceptions=True)


def _consumed(system: OrderProcesses) -> defaultdict[str, float]:
    """Messages acked so far on each queue, over every process of ``system``."""
    counts: defaultdict[str, float] = defaultdict(float)
    for text in system.metrics():
        for family in text_string_to_metric_families(text):
            for metric in family.samples:
                if metric.name == CONSUMED and metric.labels.get("outcome") == "acked":
                    counts[metric.labels.get("messaging_destination_name", "?")] += metric.value
    return counts


def marginal(run: VariantRun) -> dict[str, float]:
    """CPU seconds per order above what the processes spend idle: the cost that grows with the
    rate, which the sizing model multiplies (the idle cost is per process, not per order)."""
    return {
        name: max(0.0, seconds - run.idle_cpu.get(name, 0.0) / run.orders_per_second)
        for name, seconds in run.cpu_per_order.items()
    }


def totals(cpu_per_order: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds per order by who pays: every domain together, the broker, the database, the
    storefront (the load's client, not the system's cost)."""
    return {
        "domains": sum(v for name, v in cpu_per_order.items() if name.startswith(DOMAIN)),
        BROKER: cpu_per_order.get(BROKER, 0.0),
        DATABASE: cpu_per_order.get(DATABASE, 0.0),
        STOREFRONT: cpu_per_order.get(STOREFRONT, 0.0),
    }
