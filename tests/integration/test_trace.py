"""``interplay trace`` draws a flow hop by hop from what the domains' inboxes recorded, as the
domains answer it over the broker."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from domains.registry import DOMAINS
from interplay.cli import app
from interplay.operations.trace import handled, hops, mermaid
from orchestrators import Pattern
from tests.flows import EXPECTED_EVENTS, HAPPY, EventTap, order
from tests.inprocess import running_system, settings_for
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

PATTERNS = {**dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION), "shipping": Pattern.CHOREOGRAPHY}


async def test_a_flow_is_traced_in_causal_order_across_both_patterns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_vhost("interplay-trace") as amqp_url:
        async with running_system(amqp_url, tmp_path, PATTERNS):
            tap = EventTap(amqp_url)
            await tap.start()
            flow_id = await tap.place(order(HAPPY))
            await tap.wait_for({flow_id: EXPECTED_EVENTS[HAPPY]}, 20)
            await tap.close()
            settings = settings_for(amqp_url, tmp_path, PATTERNS)
            records, unanswered = await handled(settings, flow_id, timeout=5)
            monkeypatch.setenv("INTERPLAY_AMQP_URL", amqp_url)
            # the command line runs its own event loop: on a thread, as the domains answer here
            table = await asyncio.to_thread(CliRunner().invoke, app, ["trace", flow_id])
            command = ["trace", flow_id, "--json"]
            as_json = await asyncio.to_thread(CliRunner().invoke, app, command)

    assert unanswered == {}
    flow = hops(records, DOMAINS)
    types = [hop.type for hop in flow]
    assert types[0] == "orders.order.placed"
    assert types.index("orders.order.register") < types.index("orders.order.accepted")
    assert types.index("payments.payment.authorise") < types.index("payments.payment.capture")
    # shipping is choreographed: its steps travel as internal events, not RPC requests
    assert "ship_order.quote.done" in types
    assert "shipping.shipment.quote" not in types
    consumers = {hop.consumer for hop in flow}
    assert {"orders", "payments.gateway", "shipping.courier", "notifications.mailer"} <= consumers
    ids = {hop.message_id for hop in flow}
    assert all(hop.causation_id in ids for hop in flow[1:] if hop.type != "orders.order.placed")
    assert all(hop.wire_seconds >= 0 and hop.handling_seconds >= 0 for hop in flow)

    diagram = mermaid(flow)
    assert diagram.startswith("sequenceDiagram\n")
    assert "payments-)inventory" not in diagram  # payments never talks to inventory directly
    assert "orders->>orders_order_book: orders.order.register" in diagram

    assert table.exit_code == 0, table.output
    assert "payments.payment.capture" in table.output
    assert f"{len(flow)} hops" in table.output
    for line in table.output.splitlines():  # a message type is never broken across lines
        assert not line.rstrip().endswith(("payments.payment.", "orders.order."))

    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["correlation_id"] == flow_id
    assert [hop["type"] for hop in document["hops"]] == types
    assert {"message_id", "causation_id", "producer", "consumer", "wire_seconds"} <= set(
        document["hops"][0]
    )
