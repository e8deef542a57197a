"""``interplay publish``: send a test event, validated against its contract, and watch its flow."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import NoReturn

import typer
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from rich.console import Console

from domains.registry import DOMAINS
from interplay.cli.contracts import event_catalog
from interplay.settings import Settings
from messaging.broker import Broker
from messaging.envelope import Envelope
from messaging.errors import ExchangeMissing, InvalidMessage, PublishFailed
from messaging.metrics import Hop, Labels, Metrics
from messaging.publisher import Publisher
from messaging.topology import EVENTS_EXCHANGE, declare_watch_queue, existing_exchange

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

SOURCE = "interplay-cli"


def publish(
    routing_key: str = typer.Argument(..., help="e.g. orders.order.placed"),
    data: str = typer.Option(None, "--data", help="The event as JSON."),
    file: Path = typer.Option(None, "--file", help="A file holding the event as JSON."),
    follow: bool = typer.Option(False, "--follow", help="Print the flow's events as they happen."),
    timeout: float = typer.Option(30.0, help="How long --follow waits for the flow to settle."),
    correlation_id: str = typer.Option(
        None,
        "--correlation-id",
        help="Publish into this flow instead of starting one: an event a flow waits for "
        "(payments.challenge.completed).",
    ),
) -> None:
    """Validate an event against its contract, publish it with confirms, print its flow id."""
    contract = event_catalog().get(routing_key)
    if contract is None:
        _fail(f"no contract for {routing_key!r}; see `interplay events` for the routing keys")
    if (data is None) == (file is None):
        _fail("give the event with exactly one of --data JSON or --file PATH")
    text = data if data is not None else file.read_text()
    try:
        event = contract.model_validate_json(text)
    except ValidationError as error:
        lines = [
            f"  {'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in error.errors()
        ]
        _fail(
            f"the event does not match {contract.__name__}; nothing was sent:\n" + "\n".join(lines)
        )
    envelope = Envelope.new_flow(routing_key, SOURCE, schema_version=contract.schema_version)
    if correlation_id is not None:
        envelope = dataclasses.replace(envelope, correlation_id=correlation_id)
    try:
        asyncio.run(
            _publish(Settings(), event.model_dump_json().encode(), envelope, follow, timeout)
        )
    except PublishFailed as error:
        _fail(f"the broker did not take the event: {error}")
    except ExchangeMissing as error:
        _fail(f"nowhere to publish: {error}")
    except OSError as error:
        _fail(f"cannot reach the broker: {error}")


async def _publish(
    settings: Settings, body: bytes, envelope: Envelope, follow: bool, timeout: float
) -> None:
    broker = await Broker.connect(settings.broker("interplay publish"))
    try:
        channel = await broker.channel()
        exchange = await existing_exchange(channel, EVENTS_EXCHANGE)
        watched = await _watch(channel, exchange, envelope.correlation_id) if follow else None
        publisher = Publisher(
            channel, exchange, Metrics(CollectorRegistry()), Labels("cli", "cli", "-"), Hop.EVENT
        )
        await publisher.publish_raw(body, envelope)
        console.print(f"published {envelope.type}  correlation id [bold]{envelope.correlation_id}")
        if watched is not None:
            await _follow(watched, envelope, timeout)
    finally:
        await broker.close()


async def _watch(
    channel: AbstractChannel, exchange: AbstractExchange, correlation_id: str
) -> asyncio.Queue[AbstractIncomingMessage]:
    """Watch every event from before publishing, so that none is missed; keep the flow's."""
    seen: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
    queue = await declare_watch_queue(channel, exchange)

    async def keep(message: AbstractIncomingMessage) -> None:
        if message.correlation_id == correlation_id:
            await seen.put(message)

    await queue.consume(keep, no_ack=True)
    return seen


def leaf_events() -> set[str]:
    """Events no domain reacts to: a flow has settled when only these keep coming."""
    consumed = {event.message_type for d in DOMAINS.values() for event in d.consumes}
    return {event.message_type for d in DOMAINS.values() for event in d.publishes} - consumed


async def _follow(
    seen: asyncio.Queue[AbstractIncomingMessage], first: Envelope, timeout: float
) -> None:
    leaves, settle = leaf_events(), 1.5
    deadline = time.monotonic() + timeout
    leaf_seen = False
    while time.monotonic() < deadline:
        wait = settle if leaf_seen else deadline - time.monotonic()
        try:
            message = await asyncio.wait_for(seen.get(), max(0.0, wait))
        except TimeoutError:
            if leaf_seen:
                return  # quiet since the last leaf event: the flow has settled
            break
        try:
            envelope = Envelope.from_message(message)
        except InvalidMessage as invalid:
            errors.print(f"[yellow]a message of this flow has a broken envelope: {invalid}")
            continue
        offset = (envelope.time - first.time).total_seconds()
        body = json.loads(message.body)
        detail = ", ".join(f"{k}={body[k]}" for k in ("reason", "tracking_number") if k in body)
        colour = "red" if "failed" in envelope.type or "cancelled" in envelope.type else "green"
        console.print(
            f"  +{offset:7.3f}s  [{colour}]{envelope.type:<36}[/{colour}] from {envelope.source}"
            + (f"  {detail}" if detail else "")
        )
        leaf_seen = leaf_seen or envelope.type in leaves
    errors.print(f"[yellow]the flow did not settle within {timeout:.0f}s")
    raise typer.Exit(1)


def _fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)
