"""An operator's commands answered by the domains over the broker: the stuck flows listed with
their reason and age, one aborted or resumed and ended by its domain's sweep, a domain that does
not answer named, and a request that is malformed, or that does not come through the domain's
operations exchange, answered with the reason, dead-lettered and counted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import ClassVar

import pytest
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from domains.inventory.events import StockReserved
from domains.orders.events import OrderLine
from domains.registry import DOMAINS
from interplay.bootstrap import bootstrap
from interplay.cli import app
from interplay.operations.ask import OperationsClient
from messaging.broker import Broker, BrokerSettings
from messaging.contracts import Command
from messaging.envelope import Envelope
from messaging.errors import RemoteFailure
from messaging.metrics import Labels, Metrics
from messaging.rpc import RpcClient
from messaging.topology import QueueOptions, Topology, operations_queue
from orchestrators import Pattern
from orchestrators.operations.contracts import ShowFlow
from orchestrators.state.database import Database
from orchestrators.state.saga import FlowStatus, SagaStore
from tests.flows import EventTap
from tests.inprocess import running_system, settings_for
from tests.integration.test_sweeper import leave_stuck
from tests.rabbitmq import fresh_vhost

pytestmark = pytest.mark.integration

ORCHESTRATED = dict.fromkeys(DOMAINS, Pattern.ORCHESTRATION)
# The sweep takes a flow past its deadline only an hour later: here, only what an operator
# hands it (a resume or an abort) is swept, every 0.2 s.
SWEEP = {"sweep_every": 0.2, "sweep_grace": 3600.0}


def reservation(order_id: str) -> StockReserved:
    line = OrderLine(sku="SKU-BOOK", quantity=1, unit_price_cents=1250)
    return StockReserved(
        order_id=order_id,
        items=(line,),
        amount_cents=1250,
        card_token="tok_visa",
        shipping_country="NL",
    )


async def interplay(*arguments: str) -> tuple[int, str, str]:
    """The command line on its own thread (it runs its own event loop)."""
    result = await asyncio.to_thread(CliRunner().invoke, app, list(arguments))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("pattern", [Pattern.ORCHESTRATION, Pattern.CHOREOGRAPHY])
async def test_a_stuck_flow_is_listed_then_aborted_and_ended_by_its_domains_sweep(
    pattern: Pattern, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    patterns = {**ORCHESTRATED, "payments": pattern}
    with fresh_vhost("interplay-operations") as amqp_url:
        monkeypatch.setenv("INTERPLAY_AMQP_URL", amqp_url)
        async with running_system(amqp_url, tmp_path, patterns, **SWEEP):
            tap = EventTap(amqp_url)
            await tap.start()
            database = Database(f"sqlite+aiosqlite:///{tmp_path}/payments.sqlite3")
            stuck = await leave_stuck(database, pattern, "take_payment", reservation("o-1"), 1)
            flow_id = stuck.correlation_id

            listed = await interplay("flows", "list", "--stuck", "--json")
            aborted = await interplay("flows", "abort", flow_id, "--reason", "card expired")
            await tap.wait_for({flow_id: ["payments.payment.failed"]}, 30)
            again = await interplay("flows", "abort", flow_id, "--reason", "twice")
            await tap.close()
            await database.close()

    code, stdout, _ = listed
    assert code == 0, stdout
    [found] = [f for f in json.loads(stdout)["flows"] if f["correlation_id"] == flow_id]
    assert (found["domain"], found["workflow"], found["pattern"]) == (
        "payments",
        "take_payment",
        pattern.value,
    )
    # leave_stuck records the authorisation in the saga row only: the journal has no step done.
    step = "capture" if pattern is Pattern.ORCHESTRATION else "authorise"
    assert found["step"] == step and found["reason"].startswith("past its deadline by")
    assert found["age_seconds"] >= 0

    code, stdout, stderr = aborted
    assert code == 0, stdout + stderr
    assert "take_payment" in stdout and "aborted: the next sweep compensates" in stdout
    [failed] = [s.body for s in tap.flows[flow_id] if s.envelope.type == "payments.payment.failed"]
    assert "aborted by an operator: card expired" in failed["reason"]

    code, stdout, _ = again  # nothing left to abort: said, and exit status 1
    assert code == 1 and f"no domain that answered has an unfinished run of flow {flow_id}" in (
        stdout
    )


async def test_a_resumed_flow_is_driven_to_its_end_by_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_vhost("interplay-operations") as amqp_url:
        monkeypatch.setenv("INTERPLAY_AMQP_URL", amqp_url)
        async with running_system(amqp_url, tmp_path, ORCHESTRATED, **SWEEP):
            database = Database(f"sqlite+aiosqlite:///{tmp_path}/payments.sqlite3")
            stuck = await leave_stuck(
                database, Pattern.ORCHESTRATION, "take_payment", reservation("o-2"), 1
            )
            command = ["flows", "resume", stuck.correlation_id, "--workflow", "take_payment"]
            resumed = await interplay(*command, "--extend-by", "60", "--json")
            store = SagaStore(database)
            for _ in range(150):
                flow = await store.get("take_payment", stuck.message_id)
                assert flow is not None
                if flow.status in (FlowStatus.COMPLETED, FlowStatus.FAILED):
                    break
                await asyncio.sleep(0.1)
            listed = await interplay("flows", "list", "--stuck", "--json")
            await database.close()

    code, stdout, stderr = resumed
    assert code == 0, stdout + stderr
    [action] = json.loads(stdout)["actions"]
    assert (action["domain"], action["trigger_id"]) == ("payments", stuck.message_id)
    assert action["done"].startswith("resumed: the next sweep drives it on from capture")
    assert flow.status in (FlowStatus.COMPLETED, FlowStatus.FAILED), "the sweep never drove it"
    assert stuck.correlation_id not in {f["correlation_id"] for f in json.loads(listed[1])["flows"]}


async def test_a_domain_that_does_not_answer_is_named_and_the_others_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fresh_vhost("interplay-operations") as amqp_url:
        monkeypatch.setenv("INTERPLAY_AMQP_URL", amqp_url)
        async with admin_channel(amqp_url) as channel:  # notifications ran once, and is gone
            await Topology(QueueOptions()).operations(channel, "notifications")
        others = [name for name in DOMAINS if name != "notifications"]
        settings = settings_for(amqp_url, tmp_path, ORCHESTRATED)
        system = await bootstrap(settings, others, serve_http=False)
        try:
            # Every domain is asked at once: the silent one costs the timeout once.
            code, stdout, stderr = await interplay("flows", "show", "f-1", "--timeout", "5")
            listed = await interplay("flows", "list", "--stuck", "--timeout", "5", "--json")
        finally:
            await system.stop()

    assert code == 3
    assert "no domain that answered has a record of flow f-1" in stdout
    assert "notifications did not answer: no reply within 5s" in stderr
    assert not any(f"{name} did not answer" in stderr for name in others)
    assert listed[0] == 3
    assert list(json.loads(listed[1])["unanswered"]) == ["notifications"]


class ShowFlowOfNumber(Command):
    """A request of the right type with the wrong body."""

    message_type: ClassVar[str] = ShowFlow.message_type
    correlation_id: int


class DeleteFlow(Command):
    """A request no domain knows."""

    message_type: ClassVar[str] = "operations.flow.delete"
    correlation_id: str


class PaddedShowFlow(Command):
    message_type: ClassVar[str] = ShowFlow.message_type
    correlation_id: str
    padding: str


async def test_a_bad_request_is_answered_with_the_reason_dead_lettered_and_counted(
    tmp_path: Path,
) -> None:
    with fresh_vhost("interplay-operations") as amqp_url:
        async with (
            running_system(amqp_url, tmp_path, ORCHESTRATED) as system,
            admin_channel(amqp_url) as channel,
        ):
            metrics = Metrics(CollectorRegistry())
            labels = Labels("tests", "operations", "-")
            exchange = await Topology(QueueOptions()).operations_exchange(channel, "orders")
            operator = OperationsClient(channel, exchange, metrics, labels)
            await operator.start()
            cause = Envelope.new_flow("tests.ask", "tests")
            queue = operations_queue("orders")
            refusals = {}
            for reason, request in (
                ("schema_violation", ShowFlowOfNumber(correlation_id=42)),
                ("unknown_type", DeleteFlow(correlation_id="f-1")),
                ("too_large", PaddedShowFlow(correlation_id="f-1", padding="x" * 5000)),
            ):
                with pytest.raises(RemoteFailure) as refused:
                    await operator.call(queue, request, cause, timeout=5)
                refusals[reason] = refused.value
            # Any user may publish to any queue through the default exchange: not taken.
            direct_channel = await system.broker.channel()
            direct = RpcClient(direct_channel, metrics, labels)
            await direct.start()
            with pytest.raises(RemoteFailure) as refused:
                await direct.call(queue, ShowFlow(correlation_id="f-1"), cause, timeout=5)
            refusals["not_permitted"] = refused.value
            answered = await operator.call(queue, ShowFlow(correlation_id="f-1"), cause, timeout=5)
            registry = system.application.registry()

    for reason, failure in refusals.items():
        assert failure.error_type == "InvalidMessage" and failure.reason.startswith(reason)
        labels_of = {
            "domain": "orders",
            "service": "operations",
            "pattern": "orchestration",  # the domain's pattern, on every interplay metric
            "messaging_destination_name": queue,
            "reason": reason,
        }
        assert registry.get_sample_value("interplay_dead_letters_total", labels_of) == 1, reason
    assert "only an operator may publish" in refusals["not_permitted"].reason
    assert answered == {"runs": []}  # the server kept serving


@asynccontextmanager
async def admin_channel(amqp_url: str) -> AsyncIterator[object]:
    broker = await Broker.connect(BrokerSettings(url=amqp_url, client_name="operations test"))
    try:
        yield await broker.channel()
    finally:
        await broker.close()
