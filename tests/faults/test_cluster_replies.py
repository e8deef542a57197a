"""Why a cluster takes RPC replies on queues of the callers' own (``ReplyTo.QUEUE``), on a
three-node cluster of the test's own: a service replies to a caller whose node was killed while
the service worked; the reply is dropped, the request acked once, and the service's channel
stays open (docs/reliability.md, "A cluster").

With direct reply-to instead, RabbitMQ 3.10 closes the replying connection there
(``case_clause`` in ``rabbit_channel:deliver_reply``), and again at every redelivery."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry
from yarl import URL

from messaging.broker import Broker, BrokerSettings
from messaging.consumer import QueueConsumer
from messaging.contracts import MessageCatalog
from messaging.dead_letters import DeadLetters
from messaging.envelope import Envelope
from messaging.errors import RpcConnectionLost
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.rpc import RpcClient, RpcServer
from messaging.topology import DIRECT_REPLY_TO, QueueOptions, ReplyTo, Topology
from tests.integration.test_messaging import ParcelWeighed, WeighParcel
from tests.rabbitmq import fresh_vhost
from tests.rabbitmq_cluster import Cluster, rabbitmq_cluster
from tests.rabbitmq_node import RabbitNode

pytestmark = pytest.mark.e2e

DOMAIN = "depot"


class Scale:
    """Holds the first parcel until told to answer, so that its caller can go meanwhile."""

    def __init__(self) -> None:
        self.arrivals: list[str] = []
        self.holding = asyncio.Event()
        self.answer = asyncio.Event()

    async def weigh(self, command: WeighParcel) -> ParcelWeighed:
        self.arrivals.append(command.parcel_id)
        if command.parcel_id == "held":
            self.holding.set()
            await self.answer.wait()
        return ParcelWeighed(weight_grams=1200)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with rabbitmq_cluster() as started:
        yield started


def on_node(vhost_url: str, node: RabbitNode, name: str) -> BrokerSettings:
    """A connection to ``node`` itself, not through HAProxy: the test chooses who is where."""
    return BrokerSettings(url=str(URL(vhost_url).with_port(node.port)), client_name=name)


async def caller(settings: BrokerSettings, metrics: Metrics) -> tuple[Broker, RpcClient]:
    broker = await Broker.connect(settings)
    labels = Labels(DOMAIN, "orchestrator", "orchestration")
    client = RpcClient(await broker.channel(), metrics, labels, reply_to=ReplyTo.QUEUE)
    await client.start()
    return broker, client


async def acked(metrics: Metrics, queue: str, count: int) -> None:
    """Wait until the service has acked ``count`` requests: acks go after the reply."""
    labels = {
        "messaging_system": "rabbitmq", "domain": DOMAIN, "service": "scale",
        "pattern": "orchestration", "hop": Hop.RPC_REQUEST.value,
        "messaging_destination_name": queue, "messaging_operation_type": "process",
        "message_type": WeighParcel.message_type, "outcome": "acked",
    }  # fmt: skip
    for _ in range(200):
        if metrics.registry.get_sample_value("interplay_messages_consumed_total", labels) == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the service did not ack {count} requests")


async def test_a_reply_to_a_caller_whose_node_is_down_leaves_the_service_serving(
    cluster: Cluster,
) -> None:
    serving_node, callers_node = cluster.nodes[0], cluster.nodes[1]
    metrics = Metrics(CollectorRegistry())
    scale = Scale()
    with fresh_vhost("interplay-replies", cluster.url, cluster.ctl) as vhost_url:
        service = await Broker.connect(on_node(vhost_url, serving_node, "scale"))
        try:
            channel = await service.channel(prefetch=10)
            topology = Topology(QueueOptions())
            queue = await topology.rpc(channel, DOMAIN, "scale")
            labels = Labels(DOMAIN, "scale", "orchestration")
            replies = Publisher(
                channel, channel.default_exchange, metrics, labels, Hop.RPC_REPLY,
                destination=DIRECT_REPLY_TO,
            )  # fmt: skip
            dead_letters = DeadLetters(
                await topology.dead_letters(channel, DOMAIN), DOMAIN, metrics
            )
            handlers = {WeighParcel: scale.weigh}
            server = QueueConsumer(
                queue, MessageCatalog(handlers), RpcServer(handlers, replies),
                dead_letters=dead_letters, metrics=metrics, labels=labels, hop=Hop.RPC_REQUEST,
            )  # fmt: skip
            await server.start()
            serving = await channel.get_underlay_channel()
            flow = Envelope.new_flow("orders.order.placed", "storefront")

            gone, held_client = await caller(on_node(vhost_url, callers_node, "gone"), metrics)
            held = asyncio.create_task(
                held_client.call(queue.name, WeighParcel(parcel_id="held"), flow, timeout=60)
            )
            await asyncio.wait_for(scale.holding.wait(), 10)
            await asyncio.sleep(0.5)  # the request's confirm reaches its caller: it only waits
            callers_node.kill()  # the caller's node dies, its reply queue with it
            with pytest.raises(RpcConnectionLost):
                await held
            await gone.close()
            scale.answer.set()  # the service replies to a queue on a node that is down
            await acked(metrics, queue.name, 1)

            await asyncio.sleep(2)  # a closed channel would have its request delivered again
            assert await channel.get_underlay_channel() is serving
            assert not serving.is_closed
            assert scale.arrivals == ["held"]  # answered once, acked, never delivered again
            await server.stop()
        finally:
            await service.close()
            callers_node.start()
            cluster.wait_formed()
