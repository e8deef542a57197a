"""The edges of steps that wait, against the real broker, under both patterns, on SQLite and
PostgreSQL: a wait for the time alone (``WaitFor(None, ...)``) holds its flow for the timer and
then lets it complete; an answer that comes just as the sweeper ends its wait either wins or
loses, whole: each order ends once, completed and captured or cancelled and voided; an answer
after the end of its wait loses though no sweep has ended it yet; and a choreographed wait
recorded beside the relay's still open insert of its flow keeps the end of the wait."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from domains.orders.events import OrderPlaced
from domains.registry import DOMAINS
from interplay.operations.flows import flow_views
from messaging.consumer import Delivery
from messaging.envelope import Envelope
from orchestrators import Pattern, WaitFor
from orchestrators.state.database import Database, insert_new
from orchestrators.state.journal import FlowStart, choreography_flows
from orchestrators.state.journal_waits import JournalWaits
from orchestrators.state.saga import FlowStatus
from orchestrators.state.tables import create_framework_tables
from tests.books import read_books
from tests.databases import fresh_databases, query, sqlite_url
from tests.flows import CHALLENGE_APPROVED, EXPECTED_EVENTS, HAPPY, EventTap, order
from tests.flows import challenge_answer as answer_of
from tests.inprocess import running_system, settings_for
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

TIMER = 2.0  # seconds the customer's notification is held back after it is sent
SWEEP_EVERY = 0.1
NOTIFIED = "notifications.customer.notified"


def with_a_timer_on_notifications(monkeypatch: pytest.MonkeyPatch) -> None:
    """Notifications, with a cooling-off after its one step: the flow says the customer was
    notified only ``TIMER`` seconds after the mail went. A must-complete workflow may wait for
    the time (not for an event), so this is a workflow the framework must run as it is."""
    domain = DOMAINS["notifications"]
    (notify_customer,) = domain.workflows
    (notify,) = notify_customer.steps
    timed = dataclasses.replace(
        notify_customer, steps=(dataclasses.replace(notify, wait=WaitFor(None, TIMER)),)
    )
    monkeypatch.setitem(DOMAINS, "notifications", dataclasses.replace(domain, workflows=(timed,)))


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_a_timer_holds_its_flow_waiting_for_its_time_then_the_flow_completes(
    pattern: Pattern, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_a_timer_on_notifications(monkeypatch)
    patterns = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "notifications": pattern}
    overrides: dict[str, Any] = {"sweep_every": SWEEP_EVERY, "database_url": database_url}
    with fresh_vhost("interplay-waits") as amqp_url:
        settings = settings_for(amqp_url, tmp_path, patterns, **overrides)
        async with running_system(amqp_url, tmp_path, patterns, **overrides):
            tap = EventTap(amqp_url)
            await tap.start()
            placed = order(HAPPY)
            flow = await tap.place(placed)
            await tap.wait_for({flow: ["orders.order.completed"]}, 30)
            seen_waiting = None
            while seen_waiting is None and NOTIFIED not in tap.types(flow):
                views, _ = await flow_views(settings, flow, timeout=5)
                notifying = [v for v in views if v.domain == "notifications"]
                if notifying and notifying[0].status is FlowStatus.WAITING:
                    seen_waiting = notifying[0]
                await asyncio.sleep(0.05)
            await tap.wait_for({flow: EXPECTED_EVENTS[HAPPY]}, 30)
            await tap.close()

    assert seen_waiting is not None, "the notification's flow was never seen waiting"
    assert seen_waiting.current_step == "notify"
    assert seen_waiting.pattern == pattern.value
    when = {seen.envelope.type: seen.envelope.time.timestamp() for seen in tap.flows[flow]}
    held = when[NOTIFIED] - when["orders.order.completed"]
    print(f"{pattern}: notified {held:.2f}s after the order completed (timer {TIMER:g}s)")
    assert TIMER <= held < TIMER + 1.5, f"notified {held:.2f}s after the order completed"
    assert tap.types(flow).count(NOTIFIED) == 1
    assert read_books(database_url).notifications[placed.order_id] == 1  # mailed once, first


# The challenge's wait, short; the sweeper looks often, so that it ends a wait close to its end.
RACE_WAIT = 8.0  # long enough for every order to be waiting before the first answer is due
RACE_SWEEP_EVERY = 0.05
# When each order's answer is published, relative to the end of its wait: the first surely in
# time (an answer takes ~10-100 ms to be handled, and 1.5 s is ample on a slow day), the last
# surely late, those in between racing the sweeper.
OFFSETS = (-1.5, -0.3, -0.1, -0.05, -0.02, 0.0, 0.02, 0.05, 0.1, 0.3, 1.5)
WAITING_SQL = {
    Pattern.ORCHESTRATION: "SELECT correlation_id, deadline FROM saga_flows "
    "WHERE workflow = 'take_payment' AND status = 'waiting'",
    Pattern.CHOREOGRAPHY: "SELECT f.correlation_id, f.deadline FROM choreography_flows f "
    "JOIN choreography_steps s ON s.workflow = f.workflow AND s.trigger_id = f.trigger_id "
    "WHERE f.workflow = 'take_payment' AND s.outcome = 'waiting' AND NOT EXISTS "
    "(SELECT 1 FROM choreography_steps a WHERE a.workflow = f.workflow "
    "AND a.trigger_id = f.trigger_id AND a.outcome = 'answered')",
}
OUTCOMES = {
    "completed": ("payments.payment.captured", "orders.order.completed", "captured"),
    "cancelled": ("payments.payment.failed", "orders.order.cancelled", "voided"),
}


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_an_answer_at_the_end_of_its_wait_either_wins_or_loses_whole(
    pattern: Pattern, tmp_path: Path, database_url: str
) -> None:
    patterns = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "payments": pattern}
    with fresh_vhost("interplay-waits") as amqp_url:
        async with running_system(
            amqp_url,
            tmp_path,
            patterns,
            wait_timeout=RACE_WAIT,
            sweep_every=RACE_SWEEP_EVERY,
            database_url=database_url,
        ):
            tap = EventTap(amqp_url)
            await tap.start()
            placed = {await tap.place(p): p for p in map(_challenged, range(len(OFFSETS)))}
            offsets = dict(zip(placed, OFFSETS, strict=True))
            deadlines = await _ends_of_waits(database_url, pattern, set(placed))
            answers = [
                asyncio.create_task(_answer_at(tap, flow, placed[flow], deadlines[flow] + offset))
                for flow, offset in offsets.items()
            ]
            await asyncio.gather(*answers)
            await _until_ended(tap, set(placed), 30)
            await asyncio.sleep(1.0)  # a second outcome, if any, would come by now
            await tap.close()

    books = read_books(database_url)
    ended: dict[str, list[float]] = {"completed": [], "cancelled": []}
    for flow, placed_order in placed.items():
        types = tap.types(flow)
        terminal = [t for t in types if t in ("orders.order.completed", "orders.order.cancelled")]
        assert len(terminal) == 1, f"{flow} (answered at {offsets[flow]:+.2f}s): {types}"
        outcome = terminal[0].rsplit(".", 1)[1]
        payment_event, _, payment_status = OUTCOMES[outcome]
        other_event = OUTCOMES["cancelled" if outcome == "completed" else "completed"][0]
        assert types.count(payment_event) == 1 and other_event not in types, types
        assert books.order_status[placed_order.order_id] == outcome
        assert books.payment_status[placed_order.order_id] == payment_status
        assert books.notifications[placed_order.order_id] == 1
        ended[outcome].append(offsets[flow])
    print(f"{pattern}: answered at (s from the end of the wait) {ended}")
    assert books.repeated_movements == 0
    assert all(reserved == 0 for _, reserved in books.stock.values()), books.stock
    assert ended["completed"] and ended["cancelled"], "the race was not run: one side always won"


def _challenged(number: int) -> OrderPlaced:
    return order(CHALLENGE_APPROVED, number)


async def _ends_of_waits(database_url: str, pattern: Pattern, flows: set[str]) -> dict[str, float]:
    """When the wait of each flow's payment ends, as its database says, once it waits."""
    found: dict[str, float] = {}
    give_up = time.monotonic() + 30
    while set(found) != flows:
        assert time.monotonic() < give_up, f"not waiting: {flows - set(found)}"
        waiting = await _waiting(database_url, pattern)
        found |= {flow: end for flow, end in waiting.items() if flow in flows}
        await asyncio.sleep(0.02)
    return found


async def _waiting(database_url: str, pattern: Pattern) -> dict[str, float]:
    """The payments that wait now, by flow, with the end of their wait."""
    rows = await asyncio.to_thread(query, database_url, "payments", WAITING_SQL[pattern])
    return {str(flow): float(deadline) for flow, deadline in rows}


async def _answer_at(tap: EventTap, flow: str, placed: OrderPlaced, at: float) -> None:
    """Publish the approval of ``flow``'s challenge at wall-clock time ``at``."""
    answer = answer_of(CHALLENGE_APPROVED, placed)
    assert answer is not None
    envelope = Envelope.new_flow(answer.message_type, "storefront")
    envelope = dataclasses.replace(envelope, correlation_id=flow)
    await asyncio.sleep(max(0.0, at - time.time()))
    await tap.publisher.publish(answer, envelope)


async def _until_ended(tap: EventTap, flows: set[str], seconds: float) -> None:
    give_up = time.monotonic() + seconds
    while not all(NOTIFIED in tap.types(flow) for flow in flows):
        assert time.monotonic() < give_up, "some orders did not end"
        await asyncio.sleep(0.1)


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_an_answer_after_the_end_of_its_wait_loses_though_no_sweep_has_ended_it_yet(
    pattern: Pattern, tmp_path: Path
) -> None:
    """The time is up when the wait ends, not when the sweeper comes by (seconds later on a
    busy machine): under either pattern a late answer is too late, and the flow is left to
    the sweeper, so the same inputs give the same outcome."""
    patterns = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "payments": pattern}
    database_url = sqlite_url(tmp_path)
    with fresh_vhost("interplay-waits") as amqp_url:
        async with running_system(
            amqp_url, tmp_path, patterns, wait_timeout=RACE_WAIT, sweep_every=60.0
        ):
            tap = EventTap(amqp_url)
            await tap.start()
            placed = _challenged(0)
            flow = await tap.place(placed)
            (end_of_wait,) = (await _ends_of_waits(database_url, pattern, {flow})).values()
            await _answer_at(tap, flow, placed, end_of_wait + 0.3)
            await asyncio.sleep(1.5)  # what an answer that won would do, it does by now
            waiting = await _waiting(database_url, pattern)
            await tap.close()

    assert "payments.payment.captured" not in tap.types(flow), tap.types(flow)
    assert waiting == {flow: end_of_wait}  # for the sweeper to end, whenever it comes


async def test_a_wait_recorded_while_the_relay_records_its_flow_ends_at_the_end_of_the_wait(
    tmp_path: Path,
) -> None:
    """A choreographed step may record its wait while the inbox relay's transaction, which
    records the flow with the workflow's deadline, is still open (PostgreSQL lets both run): the
    flow's deadline must be the end of the wait, or the sweeper would end it minutes late."""
    with fresh_databases("postgresql", tmp_path, ("payments",)) as url:
        database = Database(url.replace("{domain}", "payments"))
        await create_framework_tables(database)
        try:
            started = Envelope.new_flow("inventory.stock.reserved", "tests")
            now = time.time()  # the flow as the relay starts it, with the workflow's deadline
            flow = FlowStart(
                "take_payment", started.message_id, started.correlation_id, {}, now, now + 300
            )
            row = {**dataclasses.asdict(flow), "context": "{}", "sweeps": 0}
            waits = JournalWaits(database)
            end_of_wait = time.time() + 12
            async with database.begin() as relay:  # the relay's insert, not committed yet
                await relay.execute(insert_new(relay, choreography_flows), row)
                waiting = asyncio.create_task(
                    waits.wait(
                        correlation_id=flow.correlation_id,
                        workflow=flow.workflow,
                        trigger_id=flow.trigger_id,
                        step="authorise",
                        context={"challenge_required": True},
                        started_at=flow.started_at,
                        until=end_of_wait,
                        handled=Delivery(started.caused("to_do", "tests"), _challenged(0)),
                    )
                )
                await asyncio.sleep(0.5)  # the step's transaction waits for the relay's
            await waiting
            (wait,) = await waits.of_correlation(flow.correlation_id)
        finally:
            await database.close()
    assert wait.deadline == end_of_wait
    assert wait.context == {"challenge_required": True}
