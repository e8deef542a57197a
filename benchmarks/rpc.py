"""RPC: interplay's ``RpcClient`` + ``RpcServer`` vs plain aio-pika, both over direct reply-to.

Both sides send persistent, mandatory requests with publisher confirms to a quorum queue served
with the same prefetch, and reply to ``amq.rabbitmq.reply-to`` with ``mandatory=False``. Two
figures: the latency of calls made one after another (p50, p99), and calls per second with a
fixed number of calls in flight.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiormq
from aio_pika import DeliveryMode, Message
from aio_pika.abc import AbstractIncomingMessage

from benchmarks.alternate import Say, alternately
from benchmarks.common import (
    QUEUE_ARGUMENTS,
    ParcelWeighed,
    WeighParcel,
    plain_connection,
    recording_metrics,
    shares,
)
from benchmarks.report import Row
from benchmarks.stats import Bound, Target, percentile
from messaging.broker import Broker, BrokerSettings
from messaging.consumer import QueueConsumer
from messaging.contracts import Command, MessageCatalog
from messaging.dead_letters import DeadLetters
from messaging.envelope import CONTENT_TYPE, Envelope
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.rpc import CommandHandler, RpcClient, RpcServer
from messaging.topology import DIRECT_REPLY_TO, QueueOptions, ReplyTo, Topology, rpc_queue

DOMAIN = "depot"
SERVICE = "scale"
PLAIN_QUEUE = "bench.plain-scale.rpc"
TIMEOUT = 10.0

Call = Callable[[int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RpcPlan:
    sequential_calls: int
    concurrent_calls: int
    in_flight: int = 64
    prefetch: int = 64


@dataclass(frozen=True, slots=True)
class RpcFigures:
    """One run: sequential latency percentiles (seconds) and concurrent calls per second."""

    p50: float
    p99: float
    calls_per_second: float
    cpu_per_call: float  # this process's CPU time per concurrent call, client and server


async def plain_rpc(url: str, plan: RpcPlan) -> RpcFigures:
    async with plain_connection(url) as connection:
        serving = await connection.channel(publisher_confirms=True)
        await serving.set_qos(prefetch_count=plan.prefetch)
        queue = await serving.declare_queue(PLAIN_QUEUE, durable=True, arguments=QUEUE_ARGUMENTS)

        async def serve(message: AbstractIncomingMessage) -> None:
            request = json.loads(message.body)
            reply = {"parcel_id": request["parcel_id"], "weight_grams": 1200}
            await serving.default_exchange.publish(
                Message(
                    json.dumps({"ok": True, "result": reply}).encode(),
                    content_type=CONTENT_TYPE,
                    correlation_id=message.correlation_id,
                ),
                routing_key=message.reply_to or "",
                mandatory=False,
            )
            await message.ack()

        tag = await queue.consume(serve)
        calling = await connection.channel(publisher_confirms=True)
        pending: dict[str, asyncio.Future[bytes]] = {}

        async def on_reply(message: aiormq.abc.DeliveredMessage) -> None:
            future = pending.pop(message.header.properties.correlation_id or "", None)
            if future is not None and not future.done():
                future.set_result(message.body)

        underlay = await calling.get_underlay_channel()
        await underlay.basic_consume(DIRECT_REPLY_TO, on_reply, no_ack=True)
        loop = asyncio.get_running_loop()

        async def call(number: int) -> None:
            call_id = str(uuid.uuid4())
            future: asyncio.Future[bytes] = loop.create_future()
            pending[call_id] = future
            await calling.default_exchange.publish(
                Message(
                    json.dumps({"parcel_id": f"parcel-{number}"}).encode(),
                    content_type=CONTENT_TYPE,
                    delivery_mode=DeliveryMode.PERSISTENT,
                    correlation_id=call_id,
                    reply_to=DIRECT_REPLY_TO,
                ),
                routing_key=PLAIN_QUEUE,
            )
            reply = json.loads(await asyncio.wait_for(future, TIMEOUT))
            assert reply["ok"], reply

        figures = await _measure(call, plan)
        await queue.cancel(tag)
    return figures


async def interplay_rpc(
    url: str, plan: RpcPlan, metrics: Metrics, reply_to: ReplyTo = ReplyTo.DIRECT
) -> RpcFigures:
    """interplay's client and server; ``reply_to=ReplyTo.QUEUE`` for replies through the client's
    own queue (what the cluster deploys run) instead of direct reply-to."""
    broker = await Broker.connect(BrokerSettings(url=url, client_name="bench interplay rpc"))
    try:
        topology = Topology(QueueOptions())
        serving = await broker.channel(prefetch=plan.prefetch)
        server_labels = Labels(DOMAIN, SERVICE, "orchestration")
        replies = Publisher(
            serving,
            serving.default_exchange,
            metrics,
            server_labels,
            Hop.RPC_REPLY,
            destination=DIRECT_REPLY_TO,
        )

        async def weigh(command: WeighParcel) -> ParcelWeighed:
            return ParcelWeighed(parcel_id=command.parcel_id, weight_grams=1200)

        handlers: dict[type[Command], CommandHandler] = {WeighParcel: weigh}
        consumer = QueueConsumer(
            await topology.rpc(serving, DOMAIN, SERVICE),
            MessageCatalog(handlers),
            RpcServer(handlers, replies),
            dead_letters=DeadLetters(await topology.dead_letters(serving, DOMAIN), DOMAIN, metrics),
            metrics=metrics,
            labels=server_labels,
            hop=Hop.RPC_REQUEST,
        )
        await consumer.start()
        client = RpcClient(
            await broker.channel(),
            metrics,
            Labels(DOMAIN, "orchestrator", "orchestration"),
            reply_to=reply_to,
        )
        await client.start()
        queue = rpc_queue(DOMAIN, SERVICE)
        cause = Envelope.new_flow("depot.parcel.arrived", DOMAIN)

        async def call(number: int) -> None:
            command = WeighParcel(parcel_id=f"parcel-{number}")
            await client.call(queue, command, cause, timeout=TIMEOUT)

        figures = await _measure(call, plan)
        await consumer.stop()
    finally:
        await broker.close()
    return figures


async def _measure(call: Call, plan: RpcPlan) -> RpcFigures:
    latencies = []
    for number in range(plan.sequential_calls):
        started = time.perf_counter()
        await call(number)
        latencies.append(time.perf_counter() - started)

    async def caller(count: int) -> None:
        for number in range(count):
            await call(number)

    cpu = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(
        *(caller(count) for count in shares(plan.concurrent_calls, plan.in_flight))
    )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return RpcFigures(
        percentile(latencies, 50),
        percentile(latencies, 99),
        plan.concurrent_calls / elapsed,
        cpu / plan.concurrent_calls,
    )


async def rpc_rows(url: str, plan: RpcPlan, repetitions: int, say: Say) -> list[Row]:
    """Plain and interplay RPC in turn, ``repetitions`` times."""
    variants = {
        "plain": lambda: plain_rpc(url, plan),
        "interplay": lambda: interplay_rpc(url, plan, recording_metrics()),
    }
    warmup = RpcPlan(50, 200, plan.in_flight, plan.prefetch)
    await plain_rpc(url, warmup)
    await interplay_rpc(url, warmup, recording_metrics())
    runs = await alternately(variants, repetitions, say, "rpc", _shown)
    plain, interplay = runs["plain"], runs["interplay"]
    in_flight = f"{plan.in_flight} in flight"
    return [
        Row(
            "rpc",
            f"calls/s, {in_flight}",
            [run.calls_per_second for run in interplay],
            [run.calls_per_second for run in plain],
            Target(Bound.AT_LEAST, 0.9),
            note=f"{plan.concurrent_calls} calls per run, server prefetch {plan.prefetch}",
        ),
        Row(
            "rpc",
            "CPU µs/call",
            [run.cpu_per_call for run in interplay],
            [run.cpu_per_call for run in plain],
            scale=1e6,
            note="this process's CPU time (client and server) per call, in the concurrent part",
        ),
        Row(
            "rpc",
            "sequential p50, ms",
            [run.p50 for run in interplay],
            [run.p50 for run in plain],
            Target(Bound.AT_MOST, 1.3),
            scale=1000,
            digits=2,
            note=f"{plan.sequential_calls} calls one after another per run",
        ),
        Row(
            "rpc",
            "sequential p99, ms",
            [run.p99 for run in interplay],
            [run.p99 for run in plain],
            scale=1000,
            digits=2,
        ),
    ]


def _shown(figures: RpcFigures) -> str:
    return (
        f"p50 {figures.p50 * 1000:.2f} ms, p99 {figures.p99 * 1000:.2f} ms, "
        f"{figures.calls_per_second:,.0f} calls/s, {figures.cpu_per_call * 1e6:.0f} µs CPU/call"
    )
