"""One robust connection per process, and the channels cut from it.

aio-pika's robust connection reconnects by itself; channels opened from it re-declare the
exchanges, queues and bindings declared through them and resume their consumers.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustChannel, AbstractRobustConnection
from aio_pika.exceptions import ChannelInvalidStateError
from yarl import URL

from messaging import fast_path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """How to reach RabbitMQ. ``url`` may be ``amqps://``; TLS files are optional."""

    url: str
    client_name: str = "interplay"
    heartbeat: int = 30
    reconnect_interval: float = 1.0
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    verify_peer: bool = True


class Broker:
    """The process's connection to RabbitMQ.

    Example::

        broker = await Broker.connect(BrokerSettings(url="amqp://guest:guest@127.0.0.1/"))
        channel = await broker.channel(prefetch=32)
        ...
        await broker.close()
    """

    def __init__(self, connection: AbstractRobustConnection, settings: BrokerSettings) -> None:
        self.connection = connection
        self.settings = settings

    @classmethod
    async def connect(cls, settings: BrokerSettings) -> Broker:
        url = URL(settings.url).update_query(
            heartbeat=settings.heartbeat, name=settings.client_name
        )
        connection = await aio_pika.connect_robust(
            url,
            reconnect_interval=settings.reconnect_interval,
            ssl_context=_ssl_context(settings) if url.scheme == "amqps" else None,
        )
        connection.reconnect_callbacks.add(_log_reconnect)
        log.info("connected to %s", _safe(url))
        return cls(connection, settings)

    async def channel(self, *, prefetch: int = 0) -> AbstractRobustChannel:
        """A channel with publisher confirms; ``prefetch`` bounds its unacked deliveries."""
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        if prefetch:
            await channel.set_qos(prefetch_count=prefetch)
        return channel

    @property
    def is_connected(self) -> bool:
        return not self.connection.is_closed and self.connection.connected.is_set()

    async def close(self, timeout: float = 10.0) -> None:
        """Close the connection; one whose recovery is wedged is abandoned after ``timeout``."""
        await within(self.connection.close(), timeout, "closing the broker connection")


async def within(work: Awaitable[object], seconds: float, what: str) -> bool:
    """Await ``work`` for at most ``seconds``; past that, cancel it and go on without it.

    Unlike ``asyncio.wait_for`` this does not wait for the cancellation to finish: a client
    task wedged in its own recovery must not wedge the caller too. Returns whether ``work``
    finished without error.
    """
    task = asyncio.ensure_future(work)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        log.warning("%s took over %.0fs; abandoned", what, seconds)
        return False
    if task.cancelled() or task.exception() is not None:
        log.warning("%s failed: %r", what, None if task.cancelled() else task.exception())
        return False
    return True


async def holds_consumer(channel: AbstractChannel, consumer_tag: str | None) -> bool:
    """Whether ``channel`` is open now and the broker delivers to ``consumer_tag`` on it.

    aio-pika restores consumers after a reconnect by itself, but a recovery that races a second
    connection loss can wedge and leave a queue without its consumer; this is how it is noticed.
    """
    if consumer_tag is None or channel.is_closed:
        return False
    try:
        underlay = await asyncio.wait_for(channel.get_underlay_channel(), 1.0)
    except (ChannelInvalidStateError, TimeoutError):
        return False
    return fast_path.consumes(underlay, consumer_tag)


def _ssl_context(settings: BrokerSettings) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=settings.ca_file)
    if settings.cert_file:
        context.load_cert_chain(settings.cert_file, settings.key_file)
    if not settings.verify_peer:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _safe(url: URL) -> str:
    """The URL without its password, for logs."""
    return str(url.with_password(None).with_query(None)) if url.password else str(url)


def _log_reconnect(connection: object) -> None:
    log.warning("reconnected to the broker; channels and consumers are being restored")
