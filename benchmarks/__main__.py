"""``python -m benchmarks``: interplay against plain aio-pika, on the local RabbitMQ.

Example::

    python -m benchmarks                  # the full run, under ten minutes
    python -m benchmarks --quick          # a short one, under two
    python -m benchmarks --only rpc       # one benchmark
    INTERPLAY_EVENT_LOOP=uvloop python -m benchmarks   # on uvloop (interplay[uvloop])
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from benchmarks.event_hop import EventPlan, event_hop_rows
from benchmarks.order_flow import FlowPlan, order_flow_rows
from benchmarks.report import Row, machine, markdown_table, print_table, write_json
from benchmarks.rpc import RpcPlan, rpc_rows
from benchmarks.vhost import broker_version, fresh_vhost
from interplay.event_loop import EventLoopMissing, LoopFactory, loop_factory
from interplay.settings import Settings

DEFAULT_JSON = Path(__file__).parent / "results" / "latest.json"
console = Console(width=None if sys.stdout.isatty() else 150)


@dataclass(frozen=True, slots=True)
class Plan:
    events: EventPlan
    event_repetitions: int
    rpc: RpcPlan
    rpc_repetitions: int
    flows: FlowPlan
    flow_repetitions: int


FULL = Plan(
    EventPlan(messages=4000),
    5,
    RpcPlan(sequential_calls=500, concurrent_calls=3000),
    4,
    FlowPlan(),
    3,
)
QUICK = Plan(
    EventPlan(messages=1000),
    3,
    RpcPlan(sequential_calls=150, concurrent_calls=800),
    2,
    FlowPlan(warmup=1.0, seconds=2.5, steady_seconds=2.5),
    1,
)
BENCHMARKS = ("events", "rpc", "flows")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write figures")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only these")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown here")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    plan = QUICK if arguments.quick else FULL
    mode = "quick" if arguments.quick else "full"
    loop, factory = event_loop()
    started = time.monotonic()
    runner = asyncio.Runner(loop_factory=factory)
    try:
        rows = runner.run(run_all(plan, arguments.only or BENCHMARKS))
    except Exception as error:
        console.print_exception()
        console.print(f"[red]benchmark stopped: {error}")
        console.print("is the broker up, and is nothing else (a fault test) closing connections?")
        # Not runner.close(): a robust connection caught mid-connect never ends its reconnect
        # task, and cancelling all tasks would wait for it forever.
        sys.stdout.flush()
        os._exit(1)
    runner.close()
    print_table(rows, console, f"interplay vs plain aio-pika: {mode} run on {loop}")
    context = {
        "mode": mode,
        "event_loop": loop,
        "rabbitmq": broker_version(),
        "machine": machine(),
        "seconds": round(time.monotonic() - started, 1),
    }
    write_json(arguments.json, rows, context)
    if arguments.markdown is not None:
        arguments.markdown.write_text(markdown_table(rows))
    console.print(f"figures written to {arguments.json} in {context['seconds']} s")


async def run_all(plan: Plan, chosen: tuple[str, ...] | list[str]) -> list[Row]:
    rows: list[Row] = []
    if "events" in chosen:
        with fresh_vhost() as url:
            rows += await event_hop_rows(url, plan.events, plan.event_repetitions, say)
    if "rpc" in chosen:
        with fresh_vhost() as url:
            rows += await rpc_rows(url, plan.rpc, plan.rpc_repetitions, say)
    if "flows" in chosen:
        rows += await order_flow_rows(plan.flows, plan.flow_repetitions, say)
    return rows


def say(line: str) -> None:
    console.print(f"[dim]{line}")


def event_loop() -> tuple[str, LoopFactory | None]:
    """The loop ``INTERPLAY_EVENT_LOOP`` names, as ``interplay run`` chooses it: asyncio's own
    by default, uvloop when asked for (an error when it is not installed)."""
    name = Settings().event_loop
    try:
        return name, loop_factory(name)
    except EventLoopMissing as error:
        console.print(f"[red]{error}")
        raise SystemExit(2) from error


if __name__ == "__main__":
    main()
