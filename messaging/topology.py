"""The broker topology, declared in one place (design §3).

- ``interplay.events``: the durable topic exchange every domain publishes its events to;
- ``<domain>.inbox``: each domain's durable queue, bound to the routing keys it reacts to;
- ``<domain>.<service>.rpc``: one durable queue per domain service;
- ``<domain>.internal``: a domain's own topic exchange for choreographed steps, and
  ``<domain>.<workflow>.<step>``: each step's durable queue, bound to it;
- ``interplay.dead-letter`` (direct) and ``<domain>.dead-letter``: where what cannot be processed
  ends, routed by domain; queues dead-letter there too once ``x-delivery-limit`` is hit;
- ``<queue>.retry.<milliseconds>``: delay queues whose TTL dead-letters a message back to
  ``<queue>`` (retries with backoff are done by RabbitMQ, not by a sleeping consumer);
- ``<domain>.replies.<random hex>``: an RPC caller's own reply queue, exclusive and auto-deleted,
  when replies do not come through direct reply-to (``ReplyTo.QUEUE``, for clusters);
- ``interplay.operations.<domain>`` (direct) and ``<domain>.operations``: where an operator asks
  a domain about its flows; an exchange per domain, so that the broker's permissions let only
  the operator publish there and no other domain bind to it.

Every durable queue, the delay queues included, is a quorum queue with ``replicas`` members by
default, so that on a cluster a node's loss loses no message (docs/reliability.md).

Everything is declared through robust channels, so aio-pika declares it again after a reconnect.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aio_pika import ExchangeType
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue
from aio_pika.exceptions import ChannelNotFoundEntity

from messaging.errors import ExchangeMissing

EVENTS_EXCHANGE = "interplay.events"
DEAD_LETTER_EXCHANGE = "interplay.dead-letter"
DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
# An operator's request nobody took within this is dropped: its caller gave up long ago.
OPERATIONS_REQUEST_TTL_MS = 60_000


class QueueType(StrEnum):
    QUORUM = "quorum"
    CLASSIC = "classic"


class ReplyTo(StrEnum):
    """Where an RPC caller takes its replies.

    ``DIRECT``: RabbitMQ's direct reply-to, no queue at all; the fastest, for one node.
    ``QUEUE``: a classic queue of the caller's own (``reply_queue``), for clusters: RabbitMQ 3.10
    crashes the replier's channel on a reply to the direct reply-to of a caller whose node is
    down, while a reply to a queue that is gone is only dropped (docs/reliability.md).
    """

    DIRECT = "direct"
    QUEUE = "queue"


# A caller's reply queue lives and dies with its connection, on the node it is connected to.
REPLY_QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": QueueType.CLASSIC.value}


def inbox_queue(domain: str) -> str:
    return f"{domain}.inbox"


def rpc_queue(domain: str, service: str) -> str:
    return f"{domain}.{service}.rpc"


def reply_queues(domain: str) -> str:
    """What the names of ``domain``'s reply queues start with (a low-cardinality label)."""
    return f"{domain}.replies"


def reply_queue(domain: str) -> str:
    """A new reply queue name at each call: ``<domain>.replies.<32 hex digits>``."""
    return f"{reply_queues(domain)}.{secrets.token_hex(16)}"


def internal_exchange(domain: str) -> str:
    return f"{domain}.internal"


def step_queue(domain: str, workflow: str, step: str) -> str:
    return f"{domain}.{workflow}.{step}"


def operations_exchange(domain: str) -> str:
    return f"interplay.operations.{domain}"


def operations_queue(domain: str) -> str:
    return f"{domain}.operations"


def dead_letter_queue(domain: str) -> str:
    return f"{domain}.dead-letter"


def retry_queue(queue: str, delay_ms: int) -> str:
    return f"{queue}.retry.{delay_ms}"


@dataclass(frozen=True, slots=True)
class QueueOptions:
    """How durable queues are declared; the same for every queue of a process."""

    queue_type: QueueType = QueueType.QUORUM
    delivery_limit: int = 20  # backstop against a message looping forever
    # Replicas of each quorum queue, on as many nodes (fewer when the cluster is smaller).
    replicas: int = 3

    def arguments(self, domain: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            **self.kind(),
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": domain,
        }
        if self.queue_type is QueueType.QUORUM:
            arguments["x-delivery-limit"] = self.delivery_limit
        return arguments

    def delay(self, queue: str, delay_ms: int) -> dict[str, Any]:
        """A delay queue's: messages expire after ``delay_ms`` (or their own, shorter, expiration)
        and are dead-lettered back to ``queue`` through the default exchange.

        A quorum queue like the others, so that a retry waiting on a node that dies waits on
        the other replicas instead (quorum queues take message TTLs since RabbitMQ 3.10), and
        dead-lettered *at least once*: an expired message leaves the delay queue only once
        ``queue`` has confirmed it (that strategy needs ``reject-publish`` overflow).
        """
        arguments: dict[str, Any] = {
            **self.kind(),
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": queue,
        }
        if self.queue_type is QueueType.QUORUM:
            arguments["x-dead-letter-strategy"] = "at-least-once"
            arguments["x-overflow"] = "reject-publish"
        return arguments

    def kind(self) -> dict[str, Any]:
        """The queue type's arguments: for quorum queues, with the number of members."""
        if self.queue_type is QueueType.QUORUM:
            return {"x-queue-type": "quorum", "x-quorum-initial-group-size": self.replicas}
        return {"x-queue-type": self.queue_type.value}


class Topology:
    """Declares exchanges, queues and bindings on a channel."""

    def __init__(self, options: QueueOptions) -> None:
        self.options = options

    async def events_exchange(self, channel: AbstractChannel) -> AbstractExchange:
        return await channel.declare_exchange(EVENTS_EXCHANGE, ExchangeType.TOPIC, durable=True)

    async def dead_letters(self, channel: AbstractChannel, domain: str) -> AbstractExchange:
        """The dead-letter exchange and this domain's dead-letter queue."""
        exchange = await channel.declare_exchange(
            DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True
        )
        queue = await channel.declare_queue(
            dead_letter_queue(domain), durable=True, arguments=self.options.kind()
        )
        await queue.bind(exchange, routing_key=domain)
        return exchange

    async def inbox(
        self, channel: AbstractChannel, domain: str, routing_keys: Iterable[str]
    ) -> AbstractQueue:
        """The domain's inbox, bound to every routing key it reacts to."""
        exchange = await self.events_exchange(channel)
        queue = await self.durable_queue(channel, inbox_queue(domain), domain)
        for routing_key in sorted(set(routing_keys)):
            await queue.bind(exchange, routing_key=routing_key)
        return queue

    async def rpc(self, channel: AbstractChannel, domain: str, service: str) -> AbstractQueue:
        return await self.durable_queue(channel, rpc_queue(domain, service), domain)

    async def internal(self, channel: AbstractChannel, domain: str) -> AbstractExchange:
        return await channel.declare_exchange(
            internal_exchange(domain), ExchangeType.TOPIC, durable=True
        )

    async def step(
        self, channel: AbstractChannel, domain: str, name: str, routing_keys: Iterable[str]
    ) -> AbstractQueue:
        """A choreographed step's queue, bound on the domain's internal exchange to the events
        its worker reacts to."""
        exchange = await self.internal(channel, domain)
        queue = await self.durable_queue(channel, name, domain)
        for routing_key in routing_keys:
            await queue.bind(exchange, routing_key=routing_key)
        return queue

    async def operations(self, channel: AbstractChannel, domain: str) -> AbstractQueue:
        """The domain's operations queue, bound by its own name to its operations exchange.

        Requests are questions asked with a timeout: one nobody took in time expires, and is
        not dead-lettered (there is nothing to replay).
        """
        exchange = await self.operations_exchange(channel, domain)
        queue = await channel.declare_queue(
            operations_queue(domain),
            durable=True,
            arguments={**self.options.kind(), "x-message-ttl": OPERATIONS_REQUEST_TTL_MS},
        )
        await queue.bind(exchange, routing_key=queue.name)
        return queue

    async def operations_exchange(self, channel: AbstractChannel, domain: str) -> AbstractExchange:
        return await channel.declare_exchange(
            operations_exchange(domain), ExchangeType.DIRECT, durable=True
        )

    async def retry(self, channel: AbstractChannel, queue: str, delay_ms: int) -> AbstractQueue:
        """A delay queue: what waits there ``delay_ms`` goes back to ``queue``."""
        return await channel.declare_queue(
            retry_queue(queue, delay_ms),
            durable=True,
            arguments=self.options.delay(queue, delay_ms),
        )

    async def durable_queue(
        self, channel: AbstractChannel, name: str, domain: str
    ) -> AbstractQueue:
        return await channel.declare_queue(
            name, durable=True, arguments=self.options.arguments(domain)
        )


async def existing_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    """An exchange the domains declare, looked up without declaring it (a passive declare, which
    needs no permission): how the clients that may not configure it reach it, the operator's
    tools and the storefront. A user allowed to configure an exchange may also delete it.

    Raises ``ExchangeMissing`` when no domain has declared it on this broker (vhost) yet; the
    broker then closes ``channel``.
    """
    try:
        return await channel.get_exchange(name, ensure=True)
    except ChannelNotFoundEntity as error:
        raise ExchangeMissing(
            f"{name} does not exist: no domain has run on this broker (vhost) yet"
        ) from error


async def declare_watch_queue(
    channel: AbstractChannel, exchange: AbstractExchange
) -> AbstractQueue:
    """A private queue bound to every routing key (``#``) of ``exchange``, for the tools that
    watch flows go by (``interplay publish --follow``, ``interplay load``).

    Exclusive and auto-deleted: it lives and dies with the tool's connection and never holds
    anything a domain needs. Declare it before publishing, so that no event is missed.
    """
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key="#")
    return queue
