"""``interplay dlq`` against the real broker, with the payments domain running in the test.

Garbage put on ``payments.inbox`` is dead-lettered by the domain itself; the commands list it
without taking it, show it, replay it (an invalid message comes back with its reason, a valid
one is processed) and purge exactly what was selected.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aio_pika import Message
from typer.testing import CliRunner, Result

from domains.inventory.events import StockReserved
from domains.orders.events import OrderLine
from interplay.bootstrap import bootstrap
from interplay.cli import app
from interplay.cli import dlq as dlq_cli
from interplay.operations.dead_letters import (
    Selection,
    purge_dead_letters,
    read_dead_letters,
    replay_dead_letters,
)
from interplay.settings import Settings
from interplay.supervisor import System
from messaging.broker import Broker
from messaging.dead_letters import (
    DETAIL_HEADER,
    QUEUE_HEADER,
    REASON_HEADER,
    REPLAYS_HEADER,
    ROUTING_KEY_HEADER,
    TIME_HEADER,
    DeadLetter,
)
from messaging.envelope import Envelope
from messaging.topology import (
    DEAD_LETTER_EXCHANGE,
    QueueOptions,
    Topology,
    dead_letter_queue,
    inbox_queue,
)
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

INBOX, DLQ = inbox_queue("payments"), dead_letter_queue("payments")
UNKNOWN_TYPE = "inventory.stock.melted"


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """Each test its own vhost: dead-letter queues start empty."""
    with fresh_vhost("interplay-dlq") as url:
        yield url


@pytest.fixture
async def payments(amqp_url: str, tmp_path: Path) -> AsyncIterator[System]:
    settings = Settings(
        amqp_url=amqp_url,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/{{domain}}.sqlite3",
        metrics_port=0,
    )
    system = await bootstrap(settings, ["payments"], serve_http=False)
    yield system
    await system.stop()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as a terminal, so that ids are not folded across lines."""
    monkeypatch.setattr(dlq_cli.console, "width", 250)


def raw(body: bytes, **properties: object) -> Message:
    defaults: dict[str, object] = {
        "content_type": "application/json",
        "message_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "type": StockReserved.message_type,
        "app_id": "inventory",
    }
    return Message(body, **{**defaults, **properties})  # type: ignore[arg-type]


def garbage() -> dict[str, Message]:
    return {
        "malformed_json": raw(b"{not json"),
        "schema_violation": raw(b'{"order_id": 7}'),
        "unknown_type": raw(b'{"order_id": "o-1"}', type=UNKNOWN_TYPE),
    }


async def depth(broker: Broker, queue: str) -> int:
    channel = await broker.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await channel.close()


async def until_depth(broker: Broker, queue: str, expected: int) -> None:
    for _ in range(250):
        if await depth(broker, queue) == expected:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{queue} never held {expected} (holds {await depth(broker, queue)})")


async def dead_letter_garbage(broker: Broker) -> dict[str, Message]:
    """One bad message of each kind through the payments inbox, dead-lettered in this order."""
    sent = garbage()
    channel = await broker.channel()
    for number, message in enumerate(sent.values(), start=1):
        await channel.default_exchange.publish(message, routing_key=INBOX)
        await until_depth(broker, DLQ, number)
    await channel.close()
    return sent


async def dead_letter_by_hand(broker: Broker, message: Message, queue: str = INBOX) -> None:
    """What ``DeadLetters.send`` would have published after a handler failed for good."""
    assert message.headers is not None
    message.headers.update(
        {
            REASON_HEADER: "handler_error",
            DETAIL_HEADER: "OperationalError: database is locked",
            QUEUE_HEADER: queue,
            ROUTING_KEY_HEADER: StockReserved.message_type,
            TIME_HEADER: datetime.now(UTC).isoformat(),
            "x-interplay-attempts": 4,
        }
    )
    channel = await broker.channel()
    exchange = await channel.get_exchange(DEAD_LETTER_EXCHANGE)
    await exchange.publish(message, routing_key="payments", mandatory=True)
    await channel.close()


async def cli(amqp_url: str, *arguments: str, input: str | None = None) -> Result:
    """The command in a thread of its own: it runs its own event loop, the domain keeps ours."""
    return await asyncio.to_thread(
        CliRunner().invoke,
        app,
        ["dlq", *arguments],
        env={"INTERPLAY_AMQP_URL": amqp_url},
        input=input,
    )


async def letters(broker: Broker, selection: Selection = Selection()) -> list[DeadLetter]:
    return (await read_dead_letters(broker, ["payments"], selection, 100)).letters


async def test_list_shows_each_dead_letter_with_its_reason_and_leaves_it_in_the_queue(
    payments: System, broker: Broker, amqp_url: str
) -> None:
    sent = await dead_letter_garbage(broker)

    listed = await cli(amqp_url, "list", "--json")

    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(row["message_id"], row["reason"]) for row in rows] == [
        (message.message_id, reason) for reason, message in sent.items()
    ]
    assert [row["correlation_id"] for row in rows] == [m.correlation_id for m in sent.values()]
    assert {(row["domain"], row["queue"], row["replays"]) for row in rows} == {
        ("payments", INBOX, 0)
    }
    assert all(row["detail"] and row["dead_lettered_at"] for row in rows)
    assert await depth(broker, DLQ) == 3

    table = await cli(amqp_url, "list")
    assert table.exit_code == 0, table.output
    for reason, message in sent.items():
        line = next(line for line in table.stdout.splitlines() if str(message.message_id) in line)
        assert reason in line and INBOX in line and str(message.correlation_id) in line
    again = json.loads((await cli(amqp_url, "list", "--json")).stdout)
    assert [row["message_id"] for row in again] == [row["message_id"] for row in rows]
    assert await depth(broker, DLQ) == 3


async def test_filters_select_by_reason_type_and_domain(
    payments: System, broker: Broker, amqp_url: str
) -> None:
    sent = await dead_letter_garbage(broker)

    async def listed(*filters: str) -> list[str]:
        result = await cli(amqp_url, "list", "--json", *filters)
        assert result.exit_code == 0, result.output
        return [row["message_id"] for row in json.loads(result.stdout)]

    assert await listed("--reason", "malformed_json") == [sent["malformed_json"].message_id]
    assert await listed("--type", UNKNOWN_TYPE) == [sent["unknown_type"].message_id]
    assert await listed("--reason", "schema_violation", "--reason", "unknown_type") == [
        sent["schema_violation"].message_id,
        sent["unknown_type"].message_id,
    ]
    assert await listed("--domain", "orders") == []  # orders never ran here: no queue, no letters
    assert await listed("--limit", "2") == [m.message_id for m in list(sent.values())[:2]]
    unknown = await cli(amqp_url, "list", "--domain", "nowhere")
    assert unknown.exit_code == 2 and "unknown domain(s) nowhere" in unknown.output

    by_type = await letters(broker, Selection(types=frozenset({StockReserved.message_type})))
    assert {letter.reason for letter in by_type} == {"malformed_json", "schema_violation"}
    assert await depth(broker, DLQ) == 3


async def test_show_prints_every_header_and_the_body(
    payments: System, broker: Broker, amqp_url: str
) -> None:
    sent = await dead_letter_garbage(broker)
    wrong_schema, malformed = sent["schema_violation"], sent["malformed_json"]

    shown = await cli(amqp_url, "show", str(wrong_schema.message_id))

    assert shown.exit_code == 0, shown.output
    for line in (
        "payments.dead-letter: schema_violation from payments.inbox",
        f"  correlation_id: {wrong_schema.correlation_id}",
        "  app_id: inventory",
        f"  {REASON_HEADER}: schema_violation",
        f"  {QUEUE_HEADER}: {INBOX}",
        f"  {ROUTING_KEY_HEADER}: {INBOX}",
        "body (15 bytes)",
        '  "order_id": 7',
    ):
        assert line in shown.stdout.splitlines(), line
    assert f"  {DETAIL_HEADER}: " in shown.stdout and f"  {TIME_HEADER}: " in shown.stdout

    garbled = await cli(amqp_url, "show", str(malformed.message_id))
    assert "b'{not json'" in garbled.stdout.splitlines()
    cut = await cli(amqp_url, "show", str(malformed.message_id), "--max-bytes", "4")
    assert "b'{not' … (5 more bytes)" in cut.stdout.splitlines()
    missing = await cli(amqp_url, "show", "no-such-message")
    assert (
        missing.exit_code == 1 and "no dead letter has message id no-such-message" in missing.output
    )
    assert await depth(broker, DLQ) == 3


async def test_a_replayed_message_that_is_still_invalid_comes_back_with_its_reason(
    payments: System, broker: Broker, amqp_url: str
) -> None:
    sent = await dead_letter_garbage(broker)
    wrong_schema = sent["schema_violation"]

    replayed = await cli(amqp_url, "replay", str(wrong_schema.message_id))

    assert replayed.exit_code == 0, replayed.output
    assert (
        f"replayed {wrong_schema.message_id} ({StockReserved.message_type}, schema_violation) "
        f"to {INBOX}, replay 1"
    ) in replayed.stdout
    assert "replayed 1 dead letter(s)" in replayed.stdout
    back: list[DeadLetter] = []
    for _ in range(250):
        back = [letter for letter in await letters(broker) if letter.replays == 1]
        if back:
            break
        await asyncio.sleep(0.02)
    (letter,) = back
    assert letter.message_id == wrong_schema.message_id
    assert letter.correlation_id == wrong_schema.correlation_id
    assert letter.type == StockReserved.message_type and letter.app_id == "inventory"
    assert letter.reason == "schema_violation" and letter.queue == INBOX
    assert letter.headers[REPLAYS_HEADER] == 1
    assert letter.replayed_at is not None
    assert await depth(broker, DLQ) == 3


async def test_a_replayed_valid_message_is_processed_and_leaves_the_queue(
    payments: System, broker: Broker, tmp_path: Path
) -> None:
    envelope = Envelope.new_flow(StockReserved.message_type, "inventory")
    reserved = StockReserved(
        order_id=f"o-{uuid.uuid4().hex[:8]}",
        items=(OrderLine(sku="sku-1", quantity=2, unit_price_cents=450),),
        amount_cents=900,
        card_token="tok_visa",
        shipping_country="NL",
    )
    await dead_letter_by_hand(broker, envelope.to_message(reserved.model_dump_json().encode()))
    await until_depth(broker, DLQ, 1)

    report = await replay_dead_letters(
        broker, ["payments"], Selection(message_ids=frozenset({envelope.message_id})), 100
    )

    assert [letter.message_id for letter in report.replayed] == [envelope.message_id]
    assert report.refused == []
    status: list[tuple[str]] = []
    for _ in range(250):
        with sqlite3.connect(tmp_path / "payments.sqlite3") as db:
            status = db.execute(
                "SELECT status FROM saga_flows WHERE correlation_id = ?",
                (envelope.correlation_id,),
            ).fetchall()
        if status == [("completed",)]:
            break
        await asyncio.sleep(0.02)
    assert status == [("completed",)]
    assert await depth(broker, DLQ) == 0


async def test_a_message_the_broker_dead_lettered_is_shown_with_rabbitmqs_reason_and_replayed(
    payments: System, broker: Broker
) -> None:
    channel = await broker.channel()
    side = await Topology(QueueOptions()).durable_queue(channel, "payments.side", "payments")
    message = raw(b'{"order_id": "o-2"}', headers={"traceparent": "00-abc-def-01"})
    await channel.default_exchange.publish(message, routing_key=side.name)
    rejected = await side.get(timeout=5)
    assert rejected is not None
    await rejected.reject(requeue=False)
    await until_depth(broker, DLQ, 1)

    (letter,) = await letters(broker)
    assert letter.reason == "rejected" and letter.queue == "payments.side"
    assert letter.routing_key == "payments.side" and letter.dead_lettered_at is not None
    assert "x-death" in letter.headers

    report = await replay_dead_letters(
        broker, ["payments"], Selection(reasons=frozenset({"rejected"})), 10
    )

    assert [replayed.message_id for replayed in report.replayed] == [message.message_id]
    again = await side.get(timeout=5)
    assert again is not None and again.headers is not None
    assert again.message_id == message.message_id
    assert again.correlation_id == message.correlation_id
    assert again.headers["traceparent"] == "00-abc-def-01"
    assert again.headers[REPLAYS_HEADER] == 1
    assert not any(
        name.startswith("x-death") or name.startswith("x-first-death") for name in again.headers
    )
    await again.ack()
    assert await depth(broker, DLQ) == 0
    await channel.close()


async def test_replay_refuses_when_the_queue_no_longer_exists(
    payments: System, broker: Broker, amqp_url: str
) -> None:
    orphan = raw(b'{"order_id": "o-3"}', headers={})
    await dead_letter_by_hand(broker, orphan, queue="payments.retired")
    await until_depth(broker, DLQ, 1)

    result = await cli(amqp_url, "replay", "--all")

    assert result.exit_code == 1
    assert f"not replayed {orphan.message_id}: its queue payments.retired no longer exists" in (
        result.stderr
    )
    assert "replayed 0 dead letter(s)" in result.stdout
    assert await depth(broker, DLQ) == 1


def test_replay_refuses_to_guess_what_to_replay() -> None:
    result = CliRunner().invoke(app, ["dlq", "replay"])
    assert result.exit_code == 2
    assert "say what to replay: message ids, --domain/--type/--reason, or --all" in result.output


async def test_purge_removes_the_selection_only_and_asks_first(
    payments: System, broker: Broker, amqp_url: str
) -> None:
    sent = await dead_letter_garbage(broker)

    unconfirmed = await cli(amqp_url, "purge", "--reason", "malformed_json")
    assert unconfirmed.exit_code == 1 and "Aborted" in unconfirmed.output
    assert await depth(broker, DLQ) == 3

    purged = await cli(amqp_url, "purge", "--reason", "malformed_json", "--yes")

    assert purged.exit_code == 0, purged.output
    assert "removed 1 dead letter(s)" in purged.stdout
    assert [letter.message_id for letter in await letters(broker)] == [
        sent["schema_violation"].message_id,
        sent["unknown_type"].message_id,
    ]
    removed = await purge_dead_letters(
        broker, ["payments"], Selection(types=frozenset({UNKNOWN_TYPE})), 100
    )
    assert [letter.message_id for letter in removed] == [sent["unknown_type"].message_id]
    assert [letter.reason for letter in await letters(broker)] == ["schema_violation"]
