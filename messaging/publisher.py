"""Publishing with publisher confirms, persistent messages and per-hop metrics."""

from __future__ import annotations

import logging

from aio_pika.abc import AbstractChannel, AbstractExchange
from aio_pika.exceptions import DeliveryError, PublishError
from aiormq.exceptions import ChannelAccessRefused

from messaging import fast_path, tracing
from messaging.contracts import Contract
from messaging.envelope import Envelope
from messaging.errors import PublishFailed, Unroutable
from messaging.metrics import Hop, Labels, Metrics, PublisherMetrics, PublishErrorReason

log = logging.getLogger(__name__)


class Publisher:
    """Publishes contracts to one exchange of one channel and waits for the broker's confirm.

    Messages are mandatory, so the broker says when no queue is bound (``basic.return``). For a
    command that is an error (``Unroutable``: its service does not exist); an event is a fact
    that may have no subscriber yet, so it is logged once per type, counted in
    ``interplay_messages_unrouted_total``, and publishing goes on.
    ``PublishFailed`` is raised when the broker nacks or refuses the publish (for instance a
    topic permission forbids the key). ``channel`` is the one ``exchange`` was declared on:
    messages go out through it, by ``messaging.fast_path.publish``.
    """

    def __init__(
        self,
        channel: AbstractChannel,
        exchange: AbstractExchange,
        metrics: Metrics,
        labels: Labels,
        hop: Hop,
        *,
        destination: str | None = None,
    ) -> None:
        self.channel = channel
        # The metric label for where messages go: the exchange, else the fixed name given here
        # (replies go to per-caller direct reply-to names, which must not become label values).
        self.destination = destination or exchange.name
        self.exchange = exchange
        self.metrics = metrics
        self.labels = labels
        self.hop = hop
        self.recorded = PublisherMetrics(metrics, labels, hop, self.destination)
        self._unrouted: set[str] = set()

    async def publish(
        self,
        contract: Contract,
        envelope: Envelope,
        *,
        routing_key: str | None = None,
        mandatory: bool = True,
        reply_to: str | None = None,
    ) -> None:
        body = contract.model_dump_json().encode()
        await self.publish_raw(
            body, envelope, routing_key=routing_key, mandatory=mandatory, reply_to=reply_to
        )

    async def publish_raw(
        self,
        body: bytes,
        envelope: Envelope,
        *,
        routing_key: str | None = None,
        mandatory: bool = True,
        reply_to: str | None = None,
    ) -> None:
        key = routing_key if routing_key is not None else envelope.type
        if not tracing.enabled():
            await self._publish(body, envelope, key, mandatory, reply_to)
            return
        with tracing.publishing(envelope, self.destination or key, key) as traced:
            await self._publish(body, traced, key, mandatory, reply_to)

    async def _publish(
        self, body: bytes, envelope: Envelope, key: str, mandatory: bool, reply_to: str | None
    ) -> None:
        try:
            # Awaits the broker's confirm, not the socket write (see messaging.fast_path).
            await fast_path.publish(
                self.channel,
                body,
                envelope.properties(reply_to=reply_to),
                exchange=self.exchange.name,
                routing_key=key,
                mandatory=mandatory,
            )
        except PublishError as error:
            if self.hop in (Hop.EVENT, Hop.INTERNAL_EVENT):
                if envelope.type not in self._unrouted:
                    self._unrouted.add(envelope.type)
                    log.info("no queue subscribes to %s yet; it was published to no one", key)
                self.recorded.sent(key, envelope.type).inc()
                self.recorded.unrouted(envelope.type).inc()
                return
            self.recorded.errors[PublishErrorReason.UNROUTABLE].inc()
            raise Unroutable(f"no queue is bound to {self.exchange.name!r} for {key!r}") from error
        except DeliveryError as error:
            self.recorded.errors[PublishErrorReason.NACKED].inc()
            raise PublishFailed(f"broker nacked {envelope.type} to {key!r}") from error
        except ChannelAccessRefused as error:
            self.recorded.errors[PublishErrorReason.REFUSED].inc()
            log.error(
                "broker refused publish of %s with routing key %r: %s", envelope.type, key, error
            )
            raise PublishFailed(f"broker refused {key!r}: {error}") from error
        self.recorded.sent(key, envelope.type).inc()
