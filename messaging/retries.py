"""Retries with backoff, done by RabbitMQ.

A message whose handler fails is not requeued at once (that loops hot) nor kept in memory (that
dies with the process). It is published, with confirms, to a delay queue of its queue
(``<queue>.retry.<ms>``) whose TTL dead-letters it back, with ``x-interplay-attempt`` counting
the failures; then the original is acked. Delays grow exponentially with jitter; after
``attempts`` tries the consumer dead-letters it with the reason and the count. Quorum queues'
``x-delivery-limit`` stays as the backstop for messages that crash the process itself.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from messaging.dead_letters import copy_of
from messaging.topology import Topology, retry_queue

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-interplay-attempt"  # failures so far, on a message that comes back to retry
ERROR_HEADER = "x-interplay-last-error"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all; the n-th retry waits ``first_delay * multiplier**(n-1)``."""

    attempts: int = 4
    first_delay: float = 0.5
    multiplier: float = 4.0
    jitter: float = 0.25  # a retry waits up to this fraction less, so retries spread out

    def delay_ms(self, retry: int) -> int:
        """The delay queue's TTL for the ``retry``-th retry (1-based)."""
        return int(self.first_delay * self.multiplier ** (retry - 1) * 1000)

    def expiration(self, retry: int, chance: random.Random) -> float:
        """The message's own TTL in seconds: at most the queue's, so none waits past it."""
        return self.delay_ms(retry) * (1 - self.jitter * chance.random()) / 1000


def failures_of(message: AbstractIncomingMessage) -> int:
    """How often handlers failed on ``message`` before this delivery."""
    value = (message.headers or {}).get(ATTEMPT_HEADER, 0)
    return value if isinstance(value, int) and value >= 0 else 0


class Retries:
    """Schedules the retries of the messages of one channel's consumers."""

    def __init__(self, channel: AbstractChannel, topology: Topology, policy: RetryPolicy) -> None:
        self.channel = channel
        self.topology = topology
        self.policy = policy
        self._declared: set[str] = set()
        self._chance = random.Random()

    def should_retry(self, failures: int) -> bool:
        return failures < self.policy.attempts

    async def schedule(
        self, message: AbstractIncomingMessage, queue: str, failures: int, error: str
    ) -> None:
        """Send ``message`` to wait in its delay queue, then ack it here."""
        delay_ms = self.policy.delay_ms(failures)
        name = retry_queue(queue, delay_ms)
        if name not in self._declared:
            await self.topology.retry(self.channel, queue, delay_ms)
            self._declared.add(name)
        copy = copy_of(
            message,
            {ATTEMPT_HEADER: failures, ERROR_HEADER: error[:500]},
            expiration=self.policy.expiration(failures, self._chance),
        )
        await self.channel.default_exchange.publish(copy, routing_key=name, mandatory=True)
        await message.ack()
        log.info("retrying %s from %s in %d ms: %s", message.message_id, queue, delay_ms, error)
