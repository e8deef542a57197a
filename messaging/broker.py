"""One robust connection per process, and the channels cut from it.

aio-pika's robust connection reconnects by itself; channels opened from it re-declare the
exchanges, queues and bindings declared through them and resume their consumers.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from yarl import URL

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

    def __init__(self, connection: AbstractRobustConnection) -> None:
        self.connection = connection

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
        return cls(connection)

    async def channel(self, *, prefetch: int = 0) -> AbstractRobustChannel:
        """A channel with publisher confirms; ``prefetch`` bounds its unacked deliveries."""
        channel = await self.connection.channel(publisher_confirms=True, on_return_raises=True)
        if prefetch:
            await channel.set_qos(prefetch_count=prefetch)
        return channel

    @property
    def is_connected(self) -> bool:
        return not self.connection.is_closed and self.connection.connected.is_set()

    async def close(self) -> None:
        await self.connection.close()


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
