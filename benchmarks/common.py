"""What every benchmark shares: the sample contracts, plain aio-pika's setup, a countdown."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from prometheus_client import CollectorRegistry

from messaging.contracts import Command, Event, Reply
from messaging.metrics import Metrics
from messaging.topology import QueueOptions

CONNECT_TIMEOUT = 15.0

# Every queue of every benchmark, plain or interplay, is of interplay's default type.
QUEUE_ARGUMENTS: dict[str, Any] = {"x-queue-type": QueueOptions().queue_type.value}


class ParcelScanned(Event):
    """The event of the event-hop benchmark: a few fields, as a real event has."""

    message_type: ClassVar[str] = "depot.parcel.scanned"
    parcel_id: str
    depot: str
    weight_grams: int
    scanned_at: float


class WeighParcel(Command):
    message_type: ClassVar[str] = "depot.parcel.weigh"
    parcel_id: str


class ParcelWeighed(Reply):
    message_type: ClassVar[str] = "depot.parcel.weighed"
    parcel_id: str
    weight_grams: int


def scanned(number: int) -> dict[str, Any]:
    """The fields of the ``number``-th parcel scan, as plain JSON or a ``ParcelScanned``."""
    return {
        "parcel_id": f"parcel-{number:08d}",
        "depot": "ams-1",
        "weight_grams": 500 + number % 1000,
        "scanned_at": time.time(),
    }


class Countdown:
    """Counts deliveries down to zero; ``finished`` is set when the last one arrives."""

    def __init__(self, expected: int) -> None:
        self.remaining = expected
        self.finished = asyncio.Event()

    def tick(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.finished.set()


@asynccontextmanager
async def plain_connection(url: str) -> AsyncIterator[AbstractRobustConnection]:
    """The connection of a plain aio-pika program: robust, as interplay's is."""
    connection = await aio_pika.connect_robust(url, timeout=CONNECT_TIMEOUT)
    try:
        yield connection
    finally:
        await connection.close()


def shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` counts that differ by one at most."""
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def recording_metrics() -> Metrics:
    """Metrics on a registry of their own, as each interplay process has."""
    return Metrics(CollectorRegistry())
