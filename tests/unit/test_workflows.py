"""Every workflow's context chain: from a trigger to its commands, compensations and outcome.

The orchestrator builds each command and outcome with ``Model.model_validate(context)``, so a
field that one domain names differently from the next would only fail at run time. These tests
build them the same way, from sample replies, passing each domain's outcome on as the next
domain's trigger: the whole system's flow, with no broker.

The domains come from the registry, so that a domain added with ``interplay new-domain`` is
covered as it is: its steps answer with a sample of the reply type its service declares. The
reference flow's own assertions look at the reference domains' events only, since a new domain
adds events of its own to the same flows.
"""

from __future__ import annotations

from collections import deque
from functools import cache
from pathlib import Path

import pytest

from domains.inventory.events import StockReservation
from domains.notifications.events import NotificationSent
from domains.orders.events import OrderClosed, OrderLine, OrderPlaced, OrderRegistered
from domains.payments.events import (
    ChallengeCompleted,
    PaymentAuthorised,
    PaymentCaptureRecorded,
    RefundRecorded,
)
from domains.registry import DOMAINS
from domains.shipping.events import CourierBooked, LabelPrinted, ShipmentQuoted
from interplay.docs.reference.services import reply_of, service_class
from orchestrators import Domain, Event, Reply, Step, Workflow
from orchestrators.domain import command_handlers
from orchestrators.state import schema
from orchestrators.state.database import Database
from orchestrators.state.saga import Flow, FlowStatus
from orchestrators.workflow import initial_context

EMAIL = "ada@example.com"
REFUSAL = "refused on purpose"

PLACED = OrderPlaced(
    order_id="ord-1",
    customer_id="cus-1",
    email=EMAIL,
    items=(OrderLine(sku="SKU-BOOK", quantity=2, unit_price_cents=1_250),),
    card_token="tok_visa",
    shipping_country="GB",
)

REFERENCE_DOMAINS = ("orders", "inventory", "payments", "shipping", "notifications")
SAMPLE_REPLIES: tuple[Reply, ...] = (  # the reference services' answers, asserted below
    OrderRegistered(amount_cents=2_500),
    OrderClosed(email=EMAIL),
    StockReservation(reservation_id="res_1"),
    PaymentAuthorised(payment_id="pay_1"),
    PaymentCaptureRecorded(captured_cents=2_500),
    RefundRecorded(refunded_cents=2_500),
    ShipmentQuoted(quote_id="quo_1", shipping_cost_cents=700),
    CourierBooked(booking_id="bkg_1"),
    LabelPrinted(tracking_number="TRK1"),
    NotificationSent(notification_id="ntf_1", subject="Your order"),
)
REPLIES: dict[type[Reply], Reply] = {type(reply): reply for reply in SAMPLE_REPLIES}
MADE_UP = {str: "{}_1", int: "1", float: "1.5", bool: "true"}  # a field's sample, as JSON text
STEPS = sorted({s.name for d in DOMAINS.values() for w in d.workflows for s in w.steps})


@cache
def reply_to(domain: Domain, step: Step) -> Reply | None:
    """What ``step``'s service answers: a sample of the reply type its handler declares."""
    reply = reply_of(service_class(domain, step.service), step.command)
    if reply is None or not issubclass(reply, Reply):
        return None
    return REPLIES.get(reply) or made_up(reply)


def made_up(reply: type[Reply]) -> Reply:
    """A reply with a made-up value in each required field, for a domain added later."""
    values = {}
    for name, field in reply.model_fields.items():
        if field.is_required():
            text = MADE_UP.get(field.annotation)  # type: ignore[arg-type]
            assert text is not None, f"add a sample {reply.__name__} to SAMPLE_REPLIES"
            values[name] = text.format(name) if field.annotation is str else text
    return reply.model_validate_strings(values)


def run(
    domain: Domain, workflow: Workflow, trigger: Event, fail_at: str | None = None
) -> Event | None:
    """The outcome of ``domain``'s ``workflow``, building every command and compensation on the
    way."""
    context = initial_context(trigger, trigger.message_type, "ord-1")
    flow = Flow(workflow.name, "ord-1", "orchestration", "msg-1", context)
    for step in workflow.steps:
        step.command.model_validate(flow.context)
        if step.name == fail_at:
            # Uncertain, as after a timeout: the failed step's own compensation is built too.
            flow = flow.step_failed(step.name, REFUSAL, uncertain=True)
            break
        reply = reply_to(domain, step)
        flow = flow.step_done(step.name, reply.model_dump(mode="json") if reply else {})
    for name in flow.steps_to_undo() if flow.failed_step else ():
        compensation = workflow.step(name).compensation
        if compensation is not None:
            compensation.model_validate(flow.context)
    flow = flow.finished()
    outcome = workflow.failed if flow.status is FlowStatus.FAILED else workflow.completed
    return outcome.model_validate(flow.context) if outcome else None


def published(fail_at: str | None = None) -> list[Event]:
    """Every event the system publishes for ``PLACED``, with the step ``fail_at`` refusing."""
    events: list[Event] = [PLACED]
    pending = deque(events)
    while pending:
        event = pending.popleft()
        for domain in DOMAINS.values():
            for workflow in domain.workflows:
                if type(event) in workflow.triggers:
                    outcome = run(domain, workflow, event, fail_at)
                    if outcome is not None:
                        events.append(outcome)
                        pending.append(outcome)
    return events


def names(events: list[Event]) -> list[str]:
    """The names of the events of the reference domains (and of the storefront's order)."""
    return [
        type(event).__name__
        for event in events
        if event.message_type.split(".")[0] in REFERENCE_DOMAINS
    ]


def test_a_good_order_goes_through_every_domain_to_the_customer() -> None:
    events = published()

    assert names(events) == [
        "OrderPlaced",
        "OrderAccepted",
        "StockReserved",
        "PaymentCaptured",
        "ShipmentBooked",
        "OrderCompleted",
        "StockCommitted",
        "CustomerNotified",
    ]
    [completed] = [event for event in events if type(event).__name__ == "OrderCompleted"]
    assert completed.model_dump() == {
        "order_id": "ord-1",
        "email": EMAIL,
        "tracking_number": "TRK1",
    }


@pytest.mark.parametrize(
    ("failing_step", "restored"),
    [
        ("reserve", set()),
        ("authorise", {"StockReleased"}),
        ("capture", {"StockReleased"}),
        ("quote", {"PaymentRefunded", "StockReleased"}),
        ("book", {"PaymentRefunded", "StockReleased"}),
        ("label", {"PaymentRefunded", "StockReleased"}),
    ],
)
def test_a_failure_cancels_the_order_restores_stock_and_money_and_tells_the_customer(
    failing_step: str, restored: set[str]
) -> None:
    events = published(failing_step)

    assert set(names(events)) & {"StockReleased", "PaymentRefunded"} == restored
    assert "OrderCompleted" not in names(events)
    [cancelled] = [event for event in events if type(event).__name__ == "OrderCancelled"]
    assert cancelled.model_dump() == {"order_id": "ord-1", "email": EMAIL, "reason": REFUSAL}
    assert names(events)[-1] == "CustomerNotified"


def test_a_rejected_order_is_told_to_the_customer() -> None:
    events = published("register")

    assert names(events) == ["OrderPlaced", "OrderRejected", "CustomerNotified"]
    [rejected] = [event for event in events if type(event).__name__ == "OrderRejected"]
    assert rejected.model_dump() == {"order_id": "ord-1", "reason": REFUSAL, "email": EMAIL}


SAMPLES = {type(e): e for fail_at in (None, *STEPS) for e in published(fail_at)}  # one of each
TRIGGERS = [
    pytest.param(domain, workflow, trigger, id=f"{domain.name}.{workflow.name}-{trigger.__name__}")
    for domain in DOMAINS.values()
    for workflow in domain.workflows
    for trigger in workflow.triggers
]


@pytest.mark.parametrize(("domain", "workflow", "trigger"), TRIGGERS)
def test_every_workflow_completes_from_each_of_its_triggers(
    domain: Domain, workflow: Workflow, trigger: type[Event]
) -> None:
    assert isinstance(run(domain, workflow, SAMPLES[trigger]), workflow.completed)


@pytest.mark.parametrize(("domain", "workflow", "trigger"), TRIGGERS)
def test_every_step_can_fail_and_be_compensated(
    domain: Domain, workflow: Workflow, trigger: type[Event]
) -> None:
    for step in workflow.steps:
        outcome = run(domain, workflow, SAMPLES[trigger], fail_at=step.name)

        if workflow.failed is None:
            assert outcome is None
        else:
            assert isinstance(outcome, workflow.failed)
            assert outcome.model_dump()["reason"] == REFUSAL


def test_every_event_a_domain_reacts_to_is_published_by_another() -> None:
    publishers = {event: d.name for d in DOMAINS.values() for event in d.publishes}
    publishers[OrderPlaced] = "storefront"
    publishers[ChallengeCompleted] = "storefront"  # the customer's answer to the card's challenge

    for domain in DOMAINS.values():
        for trigger in domain.consumes:
            assert publishers.get(trigger, domain.name) != domain.name, trigger


@pytest.mark.parametrize("domain", DOMAINS.values(), ids=list(DOMAINS))
def test_a_domain_publishes_its_outcomes_under_its_own_routing_keys(domain: Domain) -> None:
    outcomes = {o for w in domain.workflows for o in (w.completed, w.failed) if o is not None}

    assert outcomes == set(domain.publishes)
    assert all(event.message_type.startswith(f"{domain.name}.") for event in domain.publishes)


@pytest.mark.parametrize("domain", DOMAINS.values(), ids=list(DOMAINS))
async def test_every_command_a_workflow_sends_has_a_handler(domain: Domain, tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'domain.sqlite3'}")
    container = domain.container(database=database)
    await schema.upgrade(database, schema.Migrations(domain.migrations))
    initialised = container.init_resources()  # as bootstrap does: migrations, then resources
    if initialised is not None:
        await initialised
    try:
        services = container.services()
        for service in domain.services:
            handled = set(command_handlers(services[service]))
            assert handled == set(domain.commands(service)), service
    finally:
        shutdown = container.shutdown_resources()
        if shutdown is not None:
            await shutdown
        await database.close()
