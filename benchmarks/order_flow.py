"""Order flow: the whole system under each pattern against a plain chain of as many deliveries.

Every variant runs in turn, again on every repetition: orchestration and choreography in this
process with their SQLite databases on disk and on a tmpfs, and with each domain in a process of
its own (as deployed); the plain aio-pika chain as long as each pattern's happy flow, and that
chain through interplay's messaging. Each pattern and the chains have a vhost of their own. Per
run: the deliveries one flow makes (counted from the system's metrics), flows per second at
saturation with the CPU each flow cost there (the target's processes and the broker), then
latency at a share of that saturation and at one fixed rate offered to all.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks.alternate import Say, alternately
from benchmarks.cpu import CpuClock
from benchmarks.flow_load import FlowTarget, Latency, Saturation, quiet, saturation, steady
from benchmarks.interplay_chain import InterplayChain
from benchmarks.order_processes import OrderProcesses
from benchmarks.order_system import OrderSystem, critical_hops
from benchmarks.plain_chain import PlainChain
from benchmarks.report import Row
from benchmarks.stats import Bound, Target
from benchmarks.vhost import fresh_vhost
from orchestrators import Pattern

DISK = Path(tempfile.gettempdir())
TMPFS = Path("/dev/shm")
SAMPLE_FLOWS = 6
LATENCY_TARGET = Target(Bound.AT_MOST, 50, " ms")
SATURATION_TARGET = Target(Bound.AT_LEAST, 0.8)
PER_DOMAIN = "a process per domain"
Chain = PlainChain | InterplayChain
System = OrderSystem | OrderProcesses


@dataclass(frozen=True, slots=True)
class FlowPlan:
    in_flight: int = 16  # flows kept running to find the saturation
    warmup: float = 1.0
    seconds: float = 3.0  # the saturation window
    steady_seconds: float = 3.0  # how long each steady rate is offered
    share: float = 0.6  # of its own saturation: the rate whose p99 is held to the target
    fixed_rate: float = 2.0  # one rate offered to every variant, below the slowest's saturation


@dataclass(frozen=True, slots=True)
class FlowRun:
    deliveries: float  # per flow, the tap's included
    saturation: Saturation
    at_share: Latency
    at_fixed: Latency


async def measure(target: FlowTarget, plan: FlowPlan, tap_hops: int, clock: CpuClock) -> FlowRun:
    """Start ``target``, count one flow's deliveries, find its saturation, time steady rates."""
    await target.start()
    try:
        await _flows(target, SAMPLE_FLOWS)  # warm up
        await quiet(target)
        before = target.count()
        await _flows(target, SAMPLE_FLOWS)
        await quiet(target)
        deliveries = (target.count() - before) / SAMPLE_FLOWS + tap_hops
        saturated = await saturation(target, plan.in_flight, plan.warmup, plan.seconds, clock)
        await quiet(target)
        share = max(1.0, plan.share * saturated.flows_per_second)
        at_share = await steady(target, share, plan.steady_seconds)
        await quiet(target)
        at_fixed = await steady(target, plan.fixed_rate, plan.steady_seconds)
        await quiet(target)
    finally:
        await target.stop()
    return FlowRun(deliveries, saturated, at_share, at_fixed)


async def order_flow_rows(plan: FlowPlan, repetitions: int, say: Say) -> list[Row]:
    patterns = (Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY)
    with ExitStack() as vhosts:
        urls = {pattern: vhosts.enter_context(fresh_vhost()) for pattern in patterns}
        chain_url = vhosts.enter_context(fresh_vhost())
        clock = CpuClock(chain_url)
        deliveries: dict[Pattern, int] = {}

        def system(
            pattern: Pattern, storage: Path, kind: type[System] = OrderSystem
        ) -> Callable[[], Awaitable[FlowRun]]:
            async def run() -> FlowRun:
                data_dir = Path(tempfile.mkdtemp(prefix="interplay-bench-", dir=storage))
                try:
                    target = kind(urls[pattern], pattern, data_dir)
                    figures = await measure(target, plan, tap_hops=1, clock=clock)
                finally:
                    shutil.rmtree(data_dir, ignore_errors=True)
                deliveries.setdefault(pattern, round(figures.deliveries))
                return figures

            return run

        def chain(pattern: Pattern, kind: type[Chain]) -> Callable[[], Awaitable[FlowRun]]:
            async def run() -> FlowRun:
                return await measure(
                    kind(chain_url, deliveries[pattern]), plan, tap_hops=0, clock=clock
                )

            return run

        variants: dict[str, Callable[[], Awaitable[FlowRun]]] = {}
        for pattern in patterns:
            variants[f"{pattern.value}"] = system(pattern, DISK)
            variants[f"plain chain ({pattern.value})"] = chain(pattern, PlainChain)
            variants[f"interplay chain ({pattern.value})"] = chain(pattern, InterplayChain)
        for pattern in patterns:
            variants[f"{pattern.value}, tmpfs"] = system(pattern, TMPFS)
            variants[f"{pattern.value}, {PER_DOMAIN}"] = system(pattern, DISK, OrderProcesses)
        runs = await alternately(variants, repetitions, say, "order flow", _shown)
    rows: list[Row] = []
    for pattern in patterns:
        rows.extend(_pattern_rows(pattern, runs, deliveries[pattern], plan))
    return rows


def _pattern_rows(
    pattern: Pattern, runs: dict[str, list[FlowRun]], deliveries: int, plan: FlowPlan
) -> list[Row]:
    plain = runs[f"plain chain ({pattern.value})"]
    hops = f"{deliveries} deliveries a flow, {critical_hops(pattern)} one after another"
    rows = []
    for name, what, targets in (
        (pattern.value, f"SQLite on disk; {hops}", True),
        (f"{pattern.value}, tmpfs", f"SQLite on a tmpfs; {hops}", True),
        (
            f"{pattern.value}, {PER_DOMAIN}",
            f"SQLite on disk, each domain an `interplay run <domain>` process; {hops}",
            True,
        ),
        (f"interplay chain ({pattern.value})", "interplay messaging only, no database", False),
    ):
        mine = runs[name]
        failed = sum(run.saturation.failed for run in mine)
        rows += [
            Row(
                f"flow: {name}",
                "flows/s at saturation",
                [run.saturation.flows_per_second for run in mine],
                [run.saturation.flows_per_second for run in plain],
                SATURATION_TARGET if targets else None,
                digits=1,
                note=f"{what}; plain: a chain of {deliveries} queues; {plan.in_flight} flows "
                f"in flight; {failed} flows failed",
            ),
            *_cpu_rows(f"flow: {name}", mine, plain),
            Row(
                f"flow: {name}",
                f"p99 ms at {plan.share:.0%} of its saturation",
                [run.at_share.p99 for run in mine],
                [run.at_share.p99 for run in plain],
                LATENCY_TARGET if targets else None,
                scale=1000,
                bounds_ratio=False,
            ),
            Row(
                f"flow: {name}",
                f"p50 ms at {plan.share:.0%} of its saturation",
                [run.at_share.p50 for run in mine],
                [run.at_share.p50 for run in plain],
                scale=1000,
            ),
            Row(
                f"flow: {name}",
                f"p50 ms at {plan.fixed_rate:g} flows/s",
                [run.at_fixed.p50 for run in mine],
                [run.at_fixed.p50 for run in plain],
                scale=1000,
            ),
            Row(
                f"flow: {name}",
                f"p99 ms at {plan.fixed_rate:g} flows/s",
                [run.at_fixed.p99 for run in mine],
                [run.at_fixed.p99 for run in plain],
                scale=1000,
            ),
        ]
    return rows


def _cpu_rows(benchmark: str, mine: list[FlowRun], plain: list[FlowRun]) -> list[Row]:
    """CPU per flow at saturation: this process's, and with the broker's when it can be read.

    Their ratio is what a flow costs the machine against plain's: on a machine whose cores are
    busy, the inverse of the second ratio is the most its saturation ratio can be."""
    process = Row(
        benchmark,
        "CPU ms per flow at saturation, this process",
        [run.saturation.cpu_per_flow for run in mine],
        [run.saturation.cpu_per_flow for run in plain],
        scale=1000,
        digits=1,
    )
    both = [_with_broker(run) for run in (*mine, *plain)]
    if any(total is None for total in both):
        return [process]
    return [
        process,
        Row(
            benchmark,
            "CPU ms per flow at saturation, with the broker's",
            [_with_broker(run) or 0.0 for run in mine],
            [_with_broker(run) or 0.0 for run in plain],
            scale=1000,
            digits=1,
            note="this process and the RabbitMQ on this machine, per flow ended in the "
            "saturation window",
        ),
    ]


def _with_broker(run: FlowRun) -> float | None:
    broker = run.saturation.broker_cpu_per_flow
    return None if broker is None else run.saturation.cpu_per_flow + broker


def _shown(run: FlowRun) -> str:
    return (
        f"{run.deliveries:.0f} deliveries/flow, {run.saturation.flows_per_second:.1f} flows/s "
        f"saturated ({run.saturation.failed} failed, "
        f"{run.saturation.cpu_per_flow * 1000:.1f} ms CPU/flow); "
        f"at {run.at_share.offered_rate:.1f}/s "
        f"p50 {run.at_share.p50 * 1000:.0f} ms p99 {run.at_share.p99 * 1000:.0f} ms; "
        f"at {run.at_fixed.offered_rate:g}/s p50 {run.at_fixed.p50 * 1000:.0f} ms "
        f"p99 {run.at_fixed.p99 * 1000:.0f} ms"
    )


async def _flows(target: FlowTarget, count: int) -> None:
    """``count`` flows at once; one that fails (a step timed out) shows in the saturation run."""
    await asyncio.gather(*(target.run_flow() for _ in range(count)), return_exceptions=True)
