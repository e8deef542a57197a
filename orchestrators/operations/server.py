"""Serving a domain's operations queue, ``<domain>.operations``, in every process of the domain.

Requests come through the domain's own exchange, ``interplay.operations.<domain>``, which only
the operator (and admin) may publish to (``interplay.broker.definitions``). Every domain user
may publish through the default exchange, to any queue: RabbitMQ authorises that exchange as
``amq.default``, not per queue. So a request is taken only when the broker says it came through
the operations exchange; any other is refused. A request refused for any reason (that, too
large, a broken envelope, malformed JSON, a body its contract rejects) is answered with the
reason, so that the operator reads why at once instead of waiting out a timeout, then
dead-lettered with the reason and counted, as on every queue.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from messaging.consumer import Delivery, QueueConsumer
from messaging.contracts import MessageCatalog
from messaging.dead_letters import DeadLetters
from messaging.envelope import Envelope
from messaging.errors import InvalidMessage, PublishFailed, RejectReason
from messaging.metrics import Hop, Labels, Metrics
from messaging.rpc import REPLY_SUFFIX, RpcFailure, RpcReply, RpcServer
from messaging.topology import DIRECT_REPLY_TO, operations_exchange
from orchestrators.operations.answers import DomainAnswers
from orchestrators.operations.contracts import MAX_REQUEST_BYTES, REQUESTS
from orchestrators.process import DomainProcess

log = logging.getLogger(__name__)

OPERATIONS_ROLE = "operations"  # the ``service`` label of what the operations queue records


class OperationsConsumer(QueueConsumer):
    """A ``QueueConsumer`` of operations requests that answers what it refuses (module doc)."""

    def __init__(
        self,
        queue: AbstractQueue,
        exchange: str,
        server: RpcServer,
        *,
        dead_letters: DeadLetters,
        metrics: Metrics,
        labels: Labels,
    ) -> None:
        super().__init__(
            queue,
            MessageCatalog(REQUESTS),
            server,
            dead_letters=dead_letters,
            metrics=metrics,
            labels=labels,
            hop=Hop.RPC_REQUEST,
            max_body_bytes=MAX_REQUEST_BYTES,
        )
        self.exchange = exchange
        self.replies = server.replies

    def _decode(self, message: AbstractIncomingMessage, received: float) -> Delivery:
        if message.exchange != self.exchange:
            came = f"through {message.exchange!r}" if message.exchange else "directly"
            raise InvalidMessage(
                RejectReason.NOT_PERMITTED,
                f"sent {came}: operations requests are taken only through {self.exchange}, "
                "which only an operator may publish to",
            )
        return super()._decode(message, received)

    async def _dead_letter(
        self,
        message: AbstractIncomingMessage,
        reason: RejectReason,
        detail: str,
        message_type: str | None,
        attempts: int = 1,
    ) -> None:
        await self._answer_refusal(message, InvalidMessage(reason, detail))
        await super()._dead_letter(message, reason, detail, message_type, attempts)

    async def _answer_refusal(self, message: AbstractIncomingMessage, refusal: Exception) -> None:
        """Tell the caller why, on direct reply-to only: a request with no reply address or id
        cannot be answered, and one naming a queue would have this domain write into it for a
        sender who may not."""
        if not message.message_id or not (message.reply_to or "").startswith(DIRECT_REPLY_TO):
            return
        body = RpcReply(ok=False, error=RpcFailure.of(refusal, business=False))
        reply_type = (message.type or "operations.unknown") + REPLY_SUFFIX
        envelope = replace(
            Envelope.new_flow(reply_type, self.replies.labels.domain),
            correlation_id=message.correlation_id or message.message_id,
            causation_id=message.message_id,  # what the caller pairs its reply by
        )
        try:
            await self.replies.publish_raw(
                body.model_dump_json().encode(),
                envelope,
                routing_key=message.reply_to,
                mandatory=False,  # direct reply-to: see messaging.rpc
            )
        except PublishFailed as error:  # the request is dead-lettered with its reason anyway
            log.warning("could not tell %s why it was refused: %s", message.message_id, error)


async def serve_operations(process: DomainProcess) -> None:
    """Add the consumer of the domain's operations queue to ``process``, whatever its role:
    every process of a domain has its database, so any of them can answer."""
    name = process.domain.name
    labels = process.labels(OPERATIONS_ROLE)
    replies = process.replies(labels)
    answers = DomainAnswers(
        process.domain, process.state, stale_after=process.options.sweep_stale_after
    )
    channel = await process.consuming_channel()
    queue = await process.topology.operations(channel, name)
    server = RpcServer(answers.handlers(), replies)
    process.consumers.append(
        OperationsConsumer(
            queue,
            operations_exchange(name),
            server,
            dead_letters=process.dead_letters,
            metrics=process.metrics,
            labels=labels,
        )
    )
