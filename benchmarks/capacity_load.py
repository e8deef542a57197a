"""One variant of the capacity benchmark: the system as processes, driven to saturation.

What it measures, in order: the messages one order puts on each queue (a batch of orders between
two quiet moments, counted from the domains' metrics); the CPU every group of processes (each
domain's replicas, the broker's nodes, PostgreSQL's backends, the storefront in this process)
spends idle; orders/s at saturation with ``in_flight`` orders always running (one placed as one
ends), each group's CPU and PostgreSQL's transactions in that window, and the latency of the
orders that ended in it; then p50/p99 at a steady rate of ``share`` of that saturation, as
docs/performance.md reports latency.
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


@dataclass(frozen=True, slots=True)
class LoadPlan:
    in_flight: int = 16
    warmup: float = 3.0
    seconds: float = 15.0  # the saturation window
    steady_seconds: float = 8.0
    share: float = 0.6  # of saturation: the steady rate whose latency is reported
    sample_orders: int = 16  # placed to count the messages per order on each queue
    idle_seconds: float = 5.0  # with no order in flight: what the processes cost doing nothing


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
    transactions: float  # per order, as PostgreSQL counts them (0 on SQLite)
    retried: float  # deliveries that failed and were retried, over the whole run


async def measure(
    system: OrderProcesses,
    others: Mapping[str, Members],
    plan: LoadPlan,
    transactions: Callable[[], int] | None = None,
) -> VariantRun:
    """Start ``system``, measure it, stop it; ``others`` are the broker and database groups,
    ``transactions`` counts the database's transactions so far (0 where it cannot)."""
    transactions = transactions or (lambda: 0)  # SQLite's are not counted
    await system.start()
    try:
        await _orders(system, plan.in_flight)  # warm up
        await quiet(system)
        queues = await _sample_orders(system, plan)
        groups = {
            **{DOMAIN + name: fixed(pids) for name, pids in system.by_domain().items()},
            **others,
        }
        idle_cpu = await _idle(groups, plan)
        saturated = await _saturate(system, groups, plan, transactions)
        await quiet(system)
        at_share = await steady(system, max(1.0, plan.share * saturated.rate), plan.steady_seconds)
        await quiet(system)
        retried = sum(_consumed(system, "retried").values())
    finally:
        await system.stop()
    return VariantRun(
        orders_per_second=saturated.rate,
        failed=saturated.failed,
        cpu_per_order=saturated.cpu,
        idle_cpu=idle_cpu,
        saturated_p50=percentile(saturated.latencies, 50),
        saturated_p99=percentile(saturated.latencies, 99),
        steady=at_share,
        queue_messages={name: count for name, count in queues.items() if count > 0},
        transactions=saturated.transactions,
        retried=retried,
    )


@dataclass(frozen=True, slots=True)
class Saturated:
    """The saturation window: orders ended per second, failures, CPU seconds and database
    transactions per order ended in it, and the latencies of those orders."""

    rate: float
    failed: int
    cpu: dict[str, float]
    transactions: float
    latencies: list[float]


async def _saturate(
    system: OrderProcesses,
    groups: Mapping[str, Members],
    plan: LoadPlan,
    transactions: Callable[[], int],
) -> Saturated:
    """``in_flight`` orders always running; the window counts after ``warmup``. Transactions
    are counted over the window too: the server's statistics lag by up to a few seconds, by as
    much at both ends of a window of steady load."""
    loop = asyncio.get_running_loop()
    window = (loop.time() + plan.warmup, loop.time() + plan.warmup + plan.seconds)
    samples: list[asyncio.Future[tuple[Sample, int]]] = [loop.create_future() for _ in window]
    for at, taken in zip(window, samples, strict=True):
        loop.call_at(at, _take, taken, groups, transactions)
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
    (start, committed), (end, committed_by_end) = await samples[0], await samples[1]
    ended = len(latencies)
    return Saturated(
        rate=ended / plan.seconds,
        failed=failed,
        cpu={name: seconds / ended for name, seconds in spent(start, end).items()},
        transactions=(committed_by_end - committed) / ended,
        latencies=latencies,
    )


async def _sample_orders(system: OrderProcesses, plan: LoadPlan) -> dict[str, float]:
    """Messages per order on each queue, from a batch of orders between two quiet moments."""
    before = _consumed(system)
    await _orders(system, plan.sample_orders)
    await quiet(system)
    after = _consumed(system)
    return {name: (after[name] - before[name]) / plan.sample_orders for name in after}


async def _idle(groups: Mapping[str, Members], plan: LoadPlan) -> dict[str, float]:
    """CPU seconds per second of each group with no order in flight."""
    before = sample(groups)
    await asyncio.sleep(plan.idle_seconds)
    return {name: used / plan.idle_seconds for name, used in spent(before, sample(groups)).items()}


def _take(
    taken: asyncio.Future[tuple[Sample, int]],
    groups: Mapping[str, Members],
    transactions: Callable[[], int],
) -> None:
    taken.set_result((sample(groups), transactions()))


async def _orders(system: OrderProcesses, count: int) -> None:
    """``count`` orders at once; one that fails shows in the saturation's count of failures."""
    await asyncio.gather(*(system.run_flow() for _ in range(count)), return_exceptions=True)


def _consumed(system: OrderProcesses, outcome: str = "acked") -> defaultdict[str, float]:
    """Messages handled with ``outcome`` so far on each queue, over every process of
    ``system``."""
    counts: defaultdict[str, float] = defaultdict(float)
    for text in system.metrics():
        for family in text_string_to_metric_families(text):
            for metric in family.samples:
                if metric.name == CONSUMED and metric.labels.get("outcome") == outcome:
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
