"""Driving flows: as many as a system can end (saturation), and a steady rate (latency).

Anything that can run one flow and say when it ended is a ``FlowTarget``: the whole interplay
system, or the plain aio-pika chain it is compared with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from benchmarks.cpu import CpuClock, CpuSample, per_flow
from benchmarks.stats import percentile

FLOW_TIMEOUT = 30.0


class FlowTarget(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def run_flow(self) -> float:
        """Start one flow, wait for its end; the seconds from start to end."""
        ...

    def count(self) -> float:
        """Deliveries handled so far: it grows while any flow, or any tail of one, goes on."""
        ...

    def processes(self) -> Sequence[int]:
        """Other processes doing the target's work, whose CPU counts as its own."""
        ...


@dataclass(frozen=True, slots=True)
class Saturation:
    """Flows that ended as they should per second, and how many did not (a step timed out)."""

    flows_per_second: float
    failed: int
    cpu_per_flow: float  # seconds of this process's CPU per flow ended in the window
    broker_cpu_per_flow: float | None  # the local broker's, when it can be read


@dataclass(frozen=True, slots=True)
class Latency:
    """Flows started at a steady rate: how many, how long they took, how many failed."""

    offered_rate: float
    flows: int
    p50: float
    p99: float
    failed: int


async def saturation(
    target: FlowTarget, in_flight: int, warmup: float, seconds: float, clock: CpuClock
) -> Saturation:
    """Flows ended per second with ``in_flight`` flows always running (one starts as one ends),
    counted for ``seconds`` after ``warmup``, and the CPU spent per flow in that window."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    window = (started + warmup, started + warmup + seconds)
    ended = failed = 0
    at_start: asyncio.Future[CpuSample] = loop.create_future()
    at_end: asyncio.Future[CpuSample] = loop.create_future()
    others = target.processes()
    loop.call_at(window[0], lambda: at_start.set_result(clock.sample(others)))
    loop.call_at(window[1], lambda: at_end.set_result(clock.sample(others)))

    async def keep_one_running(index: int) -> None:
        nonlocal ended, failed
        # Staggered starts, or the flows move through the hops in lockstep and end in bursts.
        await asyncio.sleep(index * warmup / (2 * in_flight))
        while loop.time() < window[1]:
            try:
                await target.run_flow()
            except Exception:
                failed += 1
                continue
            if window[0] <= loop.time() <= window[1]:
                ended += 1

    await asyncio.gather(*(keep_one_running(index) for index in range(in_flight)))
    cpu = per_flow(await at_start, await at_end, ended)
    return Saturation(ended / seconds, failed, *cpu)


async def steady(target: FlowTarget, rate: float, seconds: float) -> Latency:
    """Start flows at ``rate`` per second for ``seconds`` (flow ``i`` at ``start + i / rate``, so
    a slow one delays no later one) and measure each from start to end."""
    loop = asyncio.get_running_loop()
    count = max(1, round(rate * seconds))
    start = loop.time()
    running = []
    for number in range(count):
        await asyncio.sleep(max(0.0, start + number / rate - loop.time()))
        running.append(asyncio.create_task(target.run_flow()))
    outcomes = await asyncio.gather(*running, return_exceptions=True)
    latencies = [outcome for outcome in outcomes if isinstance(outcome, float)]
    failed = len(outcomes) - len(latencies)
    if not latencies:
        raise RuntimeError(f"none of {count} flows at {rate:.1f}/s ended as it should")
    return Latency(rate, count, percentile(latencies, 50), percentile(latencies, 99), failed)


async def quiet(target: FlowTarget, still: float = 0.3, longest: float = 30.0) -> None:
    """Until ``target`` has handled nothing for ``still`` seconds: the tails of flows have ended."""
    deadline = time.monotonic() + longest
    last = target.count()
    while time.monotonic() < deadline:
        await asyncio.sleep(still)
        now = target.count()
        if now == last:
            return
        last = now
