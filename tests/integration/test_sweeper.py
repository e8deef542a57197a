"""Every flow ends: a flow left past its deadline (its trigger gone, as when it was
dead-lettered) is compensated and fails with its outcome published, and one that must complete
is marked for an operator, under either pattern, by the sweeper of the running domain."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest

from domains.inventory.events import StockReserved
from domains.orders.events import OrderLine
from domains.registry import DOMAINS
from domains.shipping.events import ShipmentFailed
from messaging.consumer import Delivery
from messaging.contracts import Event
from messaging.envelope import Envelope
from orchestrators import Pattern
from orchestrators.state.database import Database
from orchestrators.state.journal import ChoreographyLog, FlowStart
from orchestrators.state.journal_claims import JournalClaims
from orchestrators.state.saga import Flow, FlowStatus, SagaStore
from orchestrators.state.saga_claims import SagaClaims
from orchestrators.workflow import initial_context
from tests.flows import EventTap
from tests.inprocess import running_system
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration


async def leave_stuck(
    database: Database, pattern: Pattern, workflow: str, trigger: Event, steps_done: int
) -> Envelope:
    """Store a flow of ``workflow`` as its trigger left it before it vanished, past its
    deadline: as far as ``steps_done`` steps."""
    envelope = Envelope.new_flow(trigger.message_type, "tests")
    context = initial_context(trigger, envelope.type, envelope.correlation_id)
    past = time.time() - 1
    if pattern is Pattern.ORCHESTRATION:
        flow = Flow(workflow, envelope.correlation_id, pattern.value, envelope.message_id, context)
        for step in ("authorise", "capture")[:steps_done]:
            flow = flow.step_done(step, {})
        await SagaStore(database).start(replace(flow, deadline=past))
    else:
        start = FlowStart(workflow, envelope.message_id, envelope.correlation_id, context, 0, past)
        await ChoreographyLog(database).start_flows([start], handled=Delivery(envelope, trigger))
    return envelope


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_a_flow_past_its_deadline_is_compensated_and_fails_or_waits_for_an_operator(
    pattern: Pattern, tmp_path: Path, database_url: str
) -> None:
    patterns = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "payments": pattern}
    with fresh_vhost("interplay-sweeper") as amqp_url:
        async with running_system(
            amqp_url,
            tmp_path,
            patterns,
            sweep_every=0.2,
            sweep_grace=0.0,
            database_url=database_url,
        ):
            tap = EventTap(amqp_url)
            await tap.start()
            database = Database(database_url.replace("{domain}", "payments"))
            line = OrderLine(sku="SKU-BOOK", quantity=1, unit_price_cents=1250)
            reserved = StockReserved(
                order_id="ord-stuck-1",
                items=(line,),
                amount_cents=1250,
                card_token="tok_visa",
                shipping_country="NL",
            )
            payment = await leave_stuck(database, pattern, "take_payment", reserved, 1)
            refund = await leave_stuck(
                database,
                pattern,
                "refund_payment",
                ShipmentFailed(order_id="ord-stuck-2", reason="no courier"),
                0,
            )
            await tap.wait_for({payment.correlation_id: ["payments.payment.failed"]}, 30)
            claims = (
                SagaClaims(database, "tests")
                if pattern is Pattern.ORCHESTRATION
                else JournalClaims(database, "tests")
            )
            for _ in range(50):
                if await claims.awaiting_operator() == 1:
                    break
                await asyncio.sleep(0.2)
            await tap.close()

            [failed] = [
                seen.body
                for seen in tap.flows[payment.correlation_id]
                if seen.envelope.type == "payments.payment.failed"
            ]
            assert "deadline" in failed["reason"]
            assert await claims.awaiting_operator() == 1  # refund_payment must complete
            assert "payments.payment.refunded" not in tap.types(refund.correlation_id)
            if pattern is Pattern.ORCHESTRATION:
                flow = await SagaStore(database).get("take_payment", payment.message_id)
                assert flow is not None and flow.status is FlowStatus.FAILED
                assert flow.compensated_steps == ("capture", "authorise")
            await database.close()
