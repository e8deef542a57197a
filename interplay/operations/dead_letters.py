"""Dead letters you can work with: read them without taking them, replay them, purge them.

Each domain's dead letters wait in ``<domain>.dead-letter``; ``messaging.dead_letters`` writes
them, reads why each is there (``DeadLetter``) and makes the copy a replay sends back.
A ``DeadLetterQueue`` reads one of them on a channel of its own and holds what it read unacked:
what is replayed or removed is acked, everything else goes back to the queue, in its order,
when the channel closes. Nothing is taken off the queue by looking at it.

Example::

    broker = await Broker.connect(settings.broker("interplay dlq"))
    async with DeadLetterQueue.open(broker, "payments") as dead_letters:
        async for letter in dead_letters.letters(limit=100):
            if letter.reason == RejectReason.SCHEMA_VIOLATION:
                await dead_letters.replay(letter)  # back to its queue, then acked here
    await broker.close()
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import DeliveryError
from aiormq.exceptions import ChannelNotFoundEntity

from messaging.broker import Broker
from messaging.dead_letters import DeadLetter, replay_copy
from messaging.topology import dead_letter_queue

MAX_PREFETCH = 65_535  # AMQP's prefetch count is a short: at most this many held at once
IDLE_SECONDS = 2.0  # a counted message that does not come this long is held by someone else
RETURN_SECONDS = 5.0  # the longest a closing reader waits for its messages to be ready again


class DeadLetterQueueMissing(LookupError):
    """The domain's dead-letter queue does not exist (the domain never ran on this broker)."""


class ReplayRefused(Exception):
    """A dead letter cannot be replayed; it stays in its dead-letter queue."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which dead letters a command acts on; an empty set of a kind selects all of that kind."""

    message_ids: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()

    def __contains__(self, letter: DeadLetter) -> bool:
        return (
            (not self.message_ids or letter.message_id in self.message_ids)
            and (not self.types or letter.type in self.types)
            and (not self.reasons or letter.reason in self.reasons)
        )


class DeadLetterQueue:
    """One domain's dead-letter queue, read on a channel of its own."""

    def __init__(
        self, domain: str, broker: Broker, channel: AbstractChannel, queue: AbstractQueue
    ) -> None:
        self.domain = domain
        self.broker = broker
        self.channel = channel
        self.queue = queue
        self._held: dict[int, AbstractIncomingMessage] = {}
        self._existing_queues: set[str] = set()

    @classmethod
    @asynccontextmanager
    async def open(cls, broker: Broker, domain: str) -> AsyncIterator[DeadLetterQueue]:
        """Everything read and neither replayed nor removed goes back when this exits."""
        channel = await broker.connection.channel(publisher_confirms=True, on_return_raises=True)
        opened: DeadLetterQueue | None = None
        try:
            try:
                queue = await channel.declare_queue(dead_letter_queue(domain), passive=True)
            except ChannelNotFoundEntity as missing:
                raise DeadLetterQueueMissing(dead_letter_queue(domain)) from missing
            opened = cls(domain, broker, channel, queue)
            yield opened
        finally:
            # Closing without acks gives back every held message at its place in the queue.
            await channel.close()
            if opened is not None and opened._held:
                await opened._until_back(len(opened._held))

    @property
    def depth(self) -> int:
        """How many dead letters were ready when the queue was opened."""
        return self.queue.declaration_result.message_count or 0

    async def letters(self, limit: int) -> AsyncIterator[DeadLetter]:
        """The oldest ``limit`` dead letters, in queue order, held until the queue is closed."""
        wanted = min(self.depth, limit, MAX_PREFETCH)
        if wanted == 0:
            return
        # The prefetch holds exactly the counted messages: later arrivals wait their turn.
        await self.channel.set_qos(prefetch_count=wanted)
        arrived: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await self.queue.consume(arrived.put, no_ack=False)
        for _ in range(wanted):
            try:
                message = await asyncio.wait_for(arrived.get(), IDLE_SECONDS)
            except TimeoutError:
                return  # another reader holds the rest
            letter = DeadLetter.of(self.domain, message)
            self._held[letter.delivery_tag] = message
            yield letter

    async def replay(self, letter: DeadLetter) -> None:
        """Publish ``letter`` back to its queue with confirms, then remove it from here."""
        if not letter.queue:
            raise ReplayRefused("it does not say which queue it came from")
        if not await self._queue_exists(letter.queue):
            raise ReplayRefused(f"its queue {letter.queue} no longer exists")
        message = self._held[letter.delivery_tag]
        try:
            await self.channel.default_exchange.publish(
                replay_copy(message, letter.replays + 1, datetime.now(UTC)),
                routing_key=letter.queue,
                mandatory=True,
            )
        except DeliveryError as refused:
            raise ReplayRefused(f"the broker did not take it for {letter.queue}") from refused
        await self.remove(letter)

    async def remove(self, letter: DeadLetter) -> None:
        """Ack ``letter``: it leaves the dead-letter queue for good."""
        await self._held.pop(letter.delivery_tag).ack()

    async def _until_back(self, returned: int) -> None:
        """Wait until the queue counts the ``returned`` messages as ready again: a quorum queue
        takes them back a moment after the channel closed, and a reader that opened the queue
        meanwhile would find it empty."""
        probe = await self.broker.connection.channel()
        try:
            deadline = asyncio.get_running_loop().time() + RETURN_SECONDS
            while asyncio.get_running_loop().time() < deadline:
                queue = await probe.declare_queue(self.queue.name, passive=True)
                if (queue.declaration_result.message_count or 0) >= returned:
                    return
                await asyncio.sleep(0.05)
        except ChannelNotFoundEntity:
            return  # deleted meanwhile: nothing comes back to it
        finally:
            if not probe.is_closed:
                await probe.close()

    async def _queue_exists(self, name: str) -> bool:
        if name in self._existing_queues:
            return True
        # A failed passive declare closes its channel, so probe on a throwaway one.
        probe = await self.broker.connection.channel()
        try:
            await probe.declare_queue(name, passive=True)
        except ChannelNotFoundEntity:
            return False
        finally:
            await probe.close()
        self._existing_queues.add(name)
        return True


@dataclass(frozen=True, slots=True)
class Reading:
    """What ``read_dead_letters`` found, and how many each domain's queue held."""

    letters: list[DeadLetter]
    depths: dict[str, int]


@dataclass(frozen=True, slots=True)
class ReplayReport:
    replayed: list[DeadLetter]
    refused: list[tuple[DeadLetter, str]]  # and why, each still in its dead-letter queue


Action = Callable[[DeadLetterQueue, DeadLetter], Awaitable[None]]


async def read_dead_letters(
    broker: Broker, domains: Iterable[str], selection: Selection, limit: int
) -> Reading:
    """The selected dead letters among the oldest ``limit`` of each domain, left in place."""
    letters: list[DeadLetter] = []
    depths: dict[str, int] = {}

    async def keep(queue: DeadLetterQueue, letter: DeadLetter) -> None:
        letters.append(letter)

    for domain in domains:
        depth = await _for_each_selected(broker, domain, selection, limit, keep)
        if depth is not None:
            depths[domain] = depth
    return Reading(letters, depths)


async def replay_dead_letters(
    broker: Broker, domains: Iterable[str], selection: Selection, limit: int
) -> ReplayReport:
    """Send each selected dead letter back to its queue; a refused one stays where it is."""
    report = ReplayReport([], [])
    started = datetime.now(UTC)

    async def replay(queue: DeadLetterQueue, letter: DeadLetter) -> None:
        if letter.replayed_at is not None and letter.replayed_at >= started:
            return  # replayed by this very run and dead-lettered again: once is enough
        try:
            await queue.replay(letter)
        except ReplayRefused as refused:
            report.refused.append((letter, str(refused)))
        else:
            report.replayed.append(letter)

    for domain in domains:
        await _for_each_selected(broker, domain, selection, limit, replay)
    return report


async def purge_dead_letters(
    broker: Broker, domains: Iterable[str], selection: Selection, limit: int
) -> list[DeadLetter]:
    """Remove the selected dead letters for good; returns what was removed."""
    removed: list[DeadLetter] = []

    async def remove(queue: DeadLetterQueue, letter: DeadLetter) -> None:
        await queue.remove(letter)
        removed.append(letter)

    for domain in domains:
        await _for_each_selected(broker, domain, selection, limit, remove)
    return removed


async def _for_each_selected(
    broker: Broker, domain: str, selection: Selection, limit: int, action: Action
) -> int | None:
    """Run ``action`` on each selected dead letter of ``domain``; the queue's depth, if any."""
    try:
        async with DeadLetterQueue.open(broker, domain) as queue:
            async for letter in queue.letters(limit):
                if letter in selection:
                    await action(queue, letter)
            return queue.depth
    except DeadLetterQueueMissing:
        return None  # the domain never ran here: it has no dead letters
