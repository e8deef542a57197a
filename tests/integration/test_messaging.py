"""The messaging layer against the real broker: envelopes, acks, dead letters, metrics, RPC."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import ClassVar

import pytest
from aio_pika import Message
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustChannel
from prometheus_client import generate_latest

from messaging.broker import Broker, BrokerSettings
from messaging.consumer import Delivery, QueueConsumer
from messaging.contracts import Command, Event, MessageCatalog, Reply
from messaging.dead_letters import DETAIL_HEADER, QUEUE_HEADER, REASON_HEADER, DeadLetters
from messaging.envelope import Envelope
from messaging.errors import RemoteFailure, RpcConnectionLost, RpcError, RpcTimeout, Unroutable
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.rpc import Refused, RpcClient, RpcServer
from messaging.topology import (
    DIRECT_REPLY_TO,
    QueueOptions,
    ReplyTo,
    Topology,
    dead_letter_queue,
    reply_queues,
)
from tests.rabbitmq import close_connection_named, queues_named, rabbitmqctl, vhost_of

pytestmark = pytest.mark.integration


class ParcelShipped(Event):
    message_type: ClassVar[str] = "depot.parcel.shipped"
    parcel_id: str
    weight_grams: int


class WeighParcel(Command):
    message_type: ClassVar[str] = "depot.parcel.weigh"
    parcel_id: str


class ParcelWeighed(Reply):
    message_type: ClassVar[str] = "depot.parcel.weighed"
    weight_grams: int


class ParcelLost(Refused):
    pass


class Scale:
    """A service for the RPC tests: refuses parcel 'lost', never answers for 'stuck'."""

    def __init__(self) -> None:
        self.release_stuck = asyncio.Event()
        self.stuck_arrivals = 0

    async def weigh(self, command: WeighParcel) -> ParcelWeighed:
        if command.parcel_id == "lost":
            raise ParcelLost("parcel lost in the depot")
        if command.parcel_id == "stuck":
            self.stuck_arrivals += 1
            await self.release_stuck.wait()
        return ParcelWeighed(weight_grams=1200)


class Depot:
    """One test domain on the broker: its inbox, dead letters and publishers."""

    def __init__(self, broker: Broker, metrics: Metrics) -> None:
        self.broker = broker
        self.metrics = metrics
        self.name = f"depot{uuid.uuid4().hex[:6]}"
        self.topology = Topology(QueueOptions())
        self.labels = Labels(self.name, "inbox", "orchestration")
        self.handled: list[Delivery] = []

    async def start_inbox(
        self, handler: Callable[[Delivery], Awaitable[None]] | None = None, max_body: int = 4096
    ) -> AbstractRobustChannel:
        channel = await self.broker.channel(prefetch=10)
        self.events = await self.topology.events_exchange(channel)
        self.dead_letters = DeadLetters(
            await self.topology.dead_letters(channel, self.name), self.name, self.metrics
        )
        self.inbox = await self.topology.inbox(channel, self.name, [ParcelShipped.message_type])
        self.consumer = QueueConsumer(
            self.inbox,
            MessageCatalog([ParcelShipped]),
            handler or self._record,
            dead_letters=self.dead_letters,
            metrics=self.metrics,
            labels=self.labels,
            hop=Hop.EVENT,
            max_body_bytes=max_body,
        )
        await self.consumer.start()
        self.publisher = Publisher(channel, self.events, self.metrics, self.labels, Hop.EVENT)
        return channel

    async def _record(self, delivery: Delivery) -> None:
        self.handled.append(delivery)

    async def dead_letter(self, channel: AbstractRobustChannel) -> AbstractIncomingMessage:
        queue = await channel.get_queue(dead_letter_queue(self.name))
        for _ in range(100):
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                return message
            await asyncio.sleep(0.05)
        raise AssertionError("nothing was dead-lettered")


async def eventually(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return value or 0.0


async def test_an_event_arrives_with_its_whole_envelope(broker: Broker, metrics: Metrics) -> None:
    depot = Depot(broker, metrics)
    await depot.start_inbox()
    cause = Envelope.new_flow("orders.order.placed", "storefront")
    envelope = cause.caused(ParcelShipped.message_type, depot.name)

    await depot.publisher.publish(ParcelShipped(parcel_id="p-1", weight_grams=800), envelope)

    await eventually(lambda: len(depot.handled) == 1)
    received = depot.handled[0]
    assert received.body == ParcelShipped(parcel_id="p-1", weight_grams=800)
    assert received.envelope.message_id == envelope.message_id
    assert received.envelope.correlation_id == cause.correlation_id
    assert received.envelope.causation_id == cause.message_id
    assert received.envelope.source == depot.name
    assert received.envelope.time == envelope.time  # microseconds survive the trip
    assert received.envelope.traceparent.startswith(f"00-{uuid.UUID(cause.correlation_id).hex}-")


async def test_every_hop_is_counted_and_timed(broker: Broker, metrics: Metrics) -> None:
    depot = Depot(broker, metrics)
    await depot.start_inbox()
    for number in range(3):
        envelope = Envelope.new_flow(ParcelShipped.message_type, depot.name)
        await depot.publisher.publish(
            ParcelShipped(parcel_id=f"p{number}", weight_grams=1), envelope
        )
    await eventually(lambda: len(depot.handled) == 3)

    hop = {
        "messaging_system": "rabbitmq",
        "domain": depot.name,
        "service": "inbox",
        "pattern": "orchestration",
        "hop": "event",
        "message_type": ParcelShipped.message_type,
    }
    sent = sample(
        metrics,
        "interplay_messages_sent_total",
        messaging_operation_type="publish",
        messaging_destination_name="interplay.events",
        **hop,
    )
    queue = {**hop, "messaging_destination_name": f"{depot.name}.inbox"}
    await eventually(
        lambda: (
            sample(
                metrics,
                "interplay_messages_consumed_total",
                messaging_operation_type="process",
                outcome="acked",
                **queue,
            )
            == 3
        )
    )
    assert sent == 3
    assert sample(metrics, "interplay_hop_latency_seconds_count", **queue) == 3
    assert sample(metrics, "interplay_handling_duration_seconds_count", **queue) == 3
    assert b"interplay_hop_latency_seconds_bucket" in generate_latest(metrics.registry)


def _raw(body: bytes, **properties: object) -> Message:
    defaults: dict[str, object] = {
        "content_type": "application/json",
        "message_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "type": ParcelShipped.message_type,
    }
    return Message(body, **{**defaults, **properties})  # type: ignore[arg-type]


BAD_MESSAGES = {
    "malformed_json": _raw(b"{not json"),
    "schema_violation": _raw(b'{"parcel_id": "p", "weight_grams": "heavy"}'),
    "unknown_type": _raw(b'{"parcel_id": "p", "weight_grams": 1}', type="depot.parcel.melted"),
    "invalid_envelope": _raw(b'{"parcel_id": "p", "weight_grams": 1}', type=None),
    "invalid_envelope-garbled-time": _raw(
        b'{"parcel_id": "p", "weight_grams": 1}', headers={"cloudEvents:time": "yesterday"}
    ),
    "wrong_content_type": _raw(b"<parcel/>", content_type="application/xml"),
    "too_large": _raw(b'{"parcel_id": "' + b"x" * 5000 + b'", "weight_grams": 1}'),
}


@pytest.mark.parametrize("reason", list(BAD_MESSAGES))
async def test_a_bad_message_is_dead_lettered_with_its_reason_and_the_next_is_served(
    broker: Broker, metrics: Metrics, reason: str
) -> None:
    depot = Depot(broker, metrics)
    channel = await depot.start_inbox()
    await channel.default_exchange.publish(BAD_MESSAGES[reason], routing_key=f"{depot.name}.inbox")

    dead = await depot.dead_letter(channel)
    assert dead.headers[REASON_HEADER] == reason.split("-")[0]
    assert dead.headers[QUEUE_HEADER] == f"{depot.name}.inbox"
    assert dead.headers[DETAIL_HEADER]
    assert dead.body == BAD_MESSAGES[reason].body  # the original, untouched
    labels = {
        "domain": depot.name,
        "service": "inbox",
        "pattern": "orchestration",
        "messaging_destination_name": f"{depot.name}.inbox",
        "reason": reason.split("-")[0],
    }
    # Counted after the copy's confirm and the original's ack, so it may trail the copy.
    await eventually(lambda: sample(metrics, "interplay_dead_letters_total", **labels) == 1)

    good = Envelope.new_flow(ParcelShipped.message_type, depot.name)
    await depot.publisher.publish(ParcelShipped(parcel_id="next", weight_grams=5), good)
    await eventually(lambda: [d.envelope.message_id for d in depot.handled] == [good.message_id])


async def test_a_failing_handler_dead_letters_the_message_with_the_error(
    broker: Broker, metrics: Metrics
) -> None:
    async def explode(delivery: Delivery) -> None:
        raise RuntimeError("the depot is on fire")

    depot = Depot(broker, metrics)
    channel = await depot.start_inbox(explode)
    envelope = Envelope.new_flow(ParcelShipped.message_type, depot.name)
    await depot.publisher.publish(ParcelShipped(parcel_id="p", weight_grams=1), envelope)

    dead = await depot.dead_letter(channel)
    assert dead.headers[REASON_HEADER] == "handler_error"
    assert "the depot is on fire" in str(dead.headers[DETAIL_HEADER])
    assert dead.message_id == envelope.message_id
    assert dead.correlation_id == envelope.correlation_id


async def test_an_event_no_one_subscribes_to_is_published_logged_once_and_counted_unrouted(
    broker: Broker, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    depot = Depot(broker, metrics)
    await depot.start_inbox()
    caplog.set_level("INFO", logger="messaging.publisher")
    for _ in range(2):
        envelope = Envelope.new_flow("depot.parcel.nobody_listens", depot.name)
        await depot.publisher.publish(ParcelShipped(parcel_id="p", weight_grams=1), envelope)
    routed = Envelope.new_flow(ParcelShipped.message_type, depot.name)
    await depot.publisher.publish(ParcelShipped(parcel_id="q", weight_grams=1), routed)
    hop = {"domain": depot.name, "service": "inbox", "pattern": "orchestration", "hop": "event"}
    hop |= {"messaging_system": "rabbitmq", "messaging_destination_name": "interplay.events"}
    unrouted = "interplay_messages_unrouted_total"
    assert sample(metrics, unrouted, **hop, message_type="depot.parcel.nobody_listens") == 2
    routed_hop = hop | {"message_type": ParcelShipped.message_type}
    assert metrics.registry.get_sample_value(unrouted, routed_hop) is None
    notes = [r.getMessage() for r in caplog.records if "nobody_listens" in r.getMessage()]
    assert notes == [
        "no queue subscribes to depot.parcel.nobody_listens yet; it was published to no one"
    ]
    assert (
        sample(
            metrics,
            "interplay_publish_errors_total",
            domain=depot.name,
            service="inbox",
            pattern="orchestration",
            hop="event",
            reason="unroutable",
        )
        == 0
    )


@pytest.fixture(params=list(ReplyTo), ids=str)
def reply_to(request: pytest.FixtureRequest) -> ReplyTo:
    """Every RPC behaviour holds whichever way replies come back."""
    mode: ReplyTo = request.param
    return mode


class RpcSetup:
    """A scale service on ``broker``; its caller on ``caller`` (the same broker by default)."""

    def __init__(self, broker: Broker, metrics: Metrics, reply_to: ReplyTo = ReplyTo.DIRECT):
        self.depot = Depot(broker, metrics)
        self.scale = Scale()
        self.reply_to = reply_to

    def reply_queue_prefix(self) -> str:
        return f"{reply_queues(self.depot.name)}."

    def handled_labels(self) -> dict[str, str]:
        """The labels of the scale's requests in ``interplay_messages_consumed_total``."""
        return {
            "domain": self.depot.name,
            "service": "scale",
            "pattern": "orchestration",
            "hop": Hop.RPC_REQUEST.value,
            "messaging_system": "rabbitmq",
            "messaging_destination_name": self.queue.name,
            "messaging_operation_type": "process",
            "message_type": WeighParcel.message_type,
        }

    async def start(self, caller: Broker | None = None) -> RpcClient:
        depot, broker, metrics = self.depot, self.depot.broker, self.depot.metrics
        self.serving = channel = await depot.start_inbox()  # requests in, replies out
        self.queue = await depot.topology.rpc(channel, depot.name, "scale")
        labels = Labels(depot.name, "scale", "orchestration")
        replies = Publisher(
            channel,
            channel.default_exchange,
            metrics,
            labels,
            Hop.RPC_REPLY,
            destination=DIRECT_REPLY_TO,
        )
        handlers = {WeighParcel: self.scale.weigh}
        server = QueueConsumer(
            self.queue,
            MessageCatalog(handlers),
            RpcServer(handlers, replies),
            dead_letters=depot.dead_letters,
            metrics=metrics,
            labels=labels,
            hop=Hop.RPC_REQUEST,
        )
        await server.start()
        return await self.client(caller or broker)

    async def client(self, caller: Broker) -> RpcClient:
        labels = Labels(self.depot.name, "orchestrator", "orchestration")
        client = RpcClient(
            await caller.channel(), self.depot.metrics, labels, reply_to=self.reply_to
        )
        await client.start()
        return client


async def test_an_rpc_call_returns_the_services_reply(
    amqp_url: str, broker: Broker, metrics: Metrics, reply_to: ReplyTo
) -> None:
    setup = RpcSetup(broker, metrics, reply_to)
    client = await setup.start()
    flow = Envelope.new_flow("orders.order.placed", "storefront")

    result = await client.call(setup.queue.name, WeighParcel(parcel_id="p-1"), flow, timeout=5)

    assert result == {"weight_grams": 1200}
    reply_queues_now = queues_named(amqp_url, setup.reply_queue_prefix())
    assert len(reply_queues_now) == (1 if reply_to is ReplyTo.QUEUE else 0)
    assert (
        sample(
            metrics,
            "interplay_rpc_round_trip_seconds_count",
            domain=setup.depot.name,
            service="scale",
            pattern="orchestration",
            message_type=WeighParcel.message_type,
            outcome="ok",
        )
        == 1
    )


async def test_a_business_refusal_arrives_as_a_typed_failure(
    broker: Broker, metrics: Metrics, reply_to: ReplyTo
) -> None:
    setup = RpcSetup(broker, metrics, reply_to)
    client = await setup.start()
    flow = Envelope.new_flow("orders.order.placed", "storefront")

    with pytest.raises(RemoteFailure) as failure:
        await client.call(setup.queue.name, WeighParcel(parcel_id="lost"), flow, timeout=5)

    assert failure.value.error_type == "ParcelLost"
    assert failure.value.business is True
    assert "lost in the depot" in failure.value.reason


async def test_a_call_without_reply_times_out_and_its_late_reply_changes_nothing(
    broker: Broker, metrics: Metrics, reply_to: ReplyTo
) -> None:
    setup = RpcSetup(broker, metrics, reply_to)
    client = await setup.start()
    flow = Envelope.new_flow("orders.order.placed", "storefront")

    with pytest.raises(RpcTimeout):
        await client.call(setup.queue.name, WeighParcel(parcel_id="stuck"), flow, timeout=0.3)
    setup.scale.release_stuck.set()  # the service answers now, too late

    caller = {"domain": setup.depot.name, "service": "orchestrator", "pattern": "orchestration"}
    await eventually(
        lambda: sample(metrics, "interplay_rpc_replies_unmatched_total", **caller) == 1
    )
    # A late reply is no publish error: the service published it and the broker took it.
    publish_errors = [
        point.value
        for family in metrics.registry.collect()
        if family.name == "interplay_publish_errors"
        for point in family.samples
        if point.name == "interplay_publish_errors_total"
    ]
    assert not any(publish_errors)
    # The client still serves the next call normally.
    assert await client.call(setup.queue.name, WeighParcel(parcel_id="p"), flow, timeout=5) == {
        "weight_grams": 1200
    }


async def test_a_call_to_a_queue_that_does_not_exist_fails_at_once(
    broker: Broker, metrics: Metrics
) -> None:
    setup = RpcSetup(broker, metrics)
    client = await setup.start()
    flow = Envelope.new_flow("orders.order.placed", "storefront")
    with pytest.raises(Unroutable):
        await client.call("nowhere.scale.rpc", WeighParcel(parcel_id="p"), flow, timeout=5)


async def test_a_garbage_request_is_dead_lettered_and_the_service_keeps_serving(
    broker: Broker, metrics: Metrics
) -> None:
    setup = RpcSetup(broker, metrics)
    client = await setup.start()
    channel = await broker.channel()
    await channel.default_exchange.publish(
        _raw(b"\xff\xfe garbage", type=WeighParcel.message_type), routing_key=setup.queue.name
    )
    dead = await setup.depot.dead_letter(channel)
    assert dead.headers[REASON_HEADER] == "malformed_json"

    flow = Envelope.new_flow("orders.order.placed", "storefront")
    assert await client.call(setup.queue.name, WeighParcel(parcel_id="p"), flow, timeout=5)


async def test_a_second_call_under_the_same_message_id_is_refused_not_left_hanging(
    broker: Broker, metrics: Metrics
) -> None:
    setup = RpcSetup(broker, metrics)
    client = await setup.start()
    flow = Envelope.new_flow("orders.order.placed", "storefront")
    first = asyncio.create_task(
        client.call(
            setup.queue.name, WeighParcel(parcel_id="stuck"), flow, timeout=5, message_id="call-1"
        )
    )
    await asyncio.sleep(0.05)
    with pytest.raises(RpcError, match="already waiting"):
        await client.call(
            setup.queue.name, WeighParcel(parcel_id="p"), flow, timeout=5, message_id="call-1"
        )
    setup.scale.release_stuck.set()
    assert await first == {"weight_grams": 1200}


async def consuming_again(client: RpcClient, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await client.is_consuming():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the client did not consume its replies again in time")


async def test_replies_reach_the_client_again_after_the_broker_closes_its_connection(
    amqp_url: str, broker: Broker, metrics: Metrics, reply_to: ReplyTo
) -> None:
    setup = RpcSetup(broker, metrics, reply_to)
    name = f"rpc caller {uuid.uuid4().hex[:8]}"
    caller = await Broker.connect(BrokerSettings(url=amqp_url, client_name=name))
    flow = Envelope.new_flow("orders.order.placed", "storefront")
    try:
        client = await setup.start(caller)
        assert await client.call(setup.queue.name, WeighParcel(parcel_id="a"), flow, timeout=5)
        before = queues_named(amqp_url, setup.reply_queue_prefix())

        reconnected = asyncio.Event()
        caller.connection.reconnect_callbacks.add(lambda *_: reconnected.set())
        close_connection_named(name)
        await asyncio.wait_for(reconnected.wait(), 20)
        await consuming_again(client)

        result = await client.call(setup.queue.name, WeighParcel(parcel_id="b"), flow, timeout=5)
        after = queues_named(amqp_url, setup.reply_queue_prefix())
    finally:
        await caller.close()
    assert result == {"weight_grams": 1200}
    if reply_to is ReplyTo.QUEUE:
        # A new queue under a new name: the old one went with its connection.
        assert len(before) == len(after) == 1
        assert before != after
    else:
        assert before == after == []


async def test_a_reply_to_a_caller_gone_with_its_queue_is_dropped_and_the_service_serves_on(
    amqp_url: str, broker: Broker, metrics: Metrics
) -> None:
    """Why clusters use ``ReplyTo.QUEUE``: the reply to a caller that is gone is dropped, and the
    replying service's channel stays open (RabbitMQ 3.10 closes it instead when the reply goes to
    the direct reply-to of a caller whose node is down)."""
    setup = RpcSetup(broker, metrics, ReplyTo.QUEUE)
    caller = await Broker.connect(BrokerSettings(url=amqp_url, client_name="rpc caller that goes"))
    gone = await setup.start(caller)
    serving = await setup.serving.get_underlay_channel()
    flow = Envelope.new_flow("orders.order.placed", "storefront")
    call = asyncio.create_task(
        gone.call(setup.queue.name, WeighParcel(parcel_id="stuck"), flow, timeout=30)
    )
    await eventually(lambda: setup.scale.stuck_arrivals == 1)

    await caller.close()  # the caller goes, and its reply queue with its connection
    with pytest.raises(RpcConnectionLost):
        await call
    assert queues_named(amqp_url, setup.reply_queue_prefix()) == []
    setup.scale.release_stuck.set()  # the service answers now, to a queue that is gone
    requests = setup.handled_labels()
    acked = {**requests, "outcome": "acked"}
    await eventually(lambda: sample(metrics, "interplay_messages_consumed_total", **acked) == 1)

    client = await setup.client(broker)
    result = await client.call(setup.queue.name, WeighParcel(parcel_id="p"), flow, timeout=5)

    assert result == {"weight_grams": 1200}
    assert await setup.serving.get_underlay_channel() is serving
    assert not serving.is_closed
    assert setup.scale.stuck_arrivals == 1  # acked once answered: never delivered again


async def test_a_reply_the_broker_will_not_take_is_dropped_and_its_request_acked_once(
    amqp_url: str, broker: Broker, metrics: Metrics
) -> None:
    """A reply nacked by the broker (its caller's queue on a node that went down: here a queue
    that takes nothing) does not fail the request: handling it again could not deliver the reply
    either, so it is acked, not retried and then dead-lettered; the service serves on."""
    setup = RpcSetup(broker, metrics)
    client = await setup.start()
    channel = await broker.channel()
    full = await channel.declare_queue(
        exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
    )
    labels = Labels(setup.depot.name, "orchestrator", "orchestration")
    requests = Publisher(channel, channel.default_exchange, metrics, labels, Hop.RPC_REQUEST)
    flow = Envelope.new_flow("orders.order.placed", "storefront")
    request = flow.caused(WeighParcel.message_type, setup.depot.name)
    await requests.publish(
        WeighParcel(parcel_id="p"), request, routing_key=setup.queue.name, reply_to=full.name
    )
    handled = setup.handled_labels()
    await eventually(
        lambda: (
            sample(metrics, "interplay_messages_consumed_total", **handled, outcome="acked") == 1
        )
    )

    result = await client.call(setup.queue.name, WeighParcel(parcel_id="q"), flow, timeout=5)

    assert result == {"weight_grams": 1200}
    assert sample(metrics, "interplay_messages_consumed_total", **handled, outcome="retried") == 0
    assert queues_named(amqp_url, f"{setup.queue.name}.retry") == []  # never sent to retry


async def test_a_reply_queue_deleted_under_the_client_is_declared_anew_by_its_next_call(
    amqp_url: str, broker: Broker, metrics: Metrics
) -> None:
    setup = RpcSetup(broker, metrics, ReplyTo.QUEUE)
    client = await setup.start()
    flow = Envelope.new_flow("orders.order.placed", "storefront")
    (deleted,) = queues_named(amqp_url, setup.reply_queue_prefix())

    rabbitmqctl("delete_queue", "-p", vhost_of(amqp_url), deleted)
    for _ in range(100):  # the broker cancels the consumer: the client is told
        if not await client.is_consuming():
            break
        await asyncio.sleep(0.05)
    assert not await client.is_consuming()

    result = await client.call(setup.queue.name, WeighParcel(parcel_id="p"), flow, timeout=5)

    assert result == {"weight_grams": 1200}
    assert await client.is_consuming()
    (declared,) = queues_named(amqp_url, setup.reply_queue_prefix())
    assert declared != deleted
