"""What a domain answers an operator, from its own state: only its own workflows' runs and its
own queues' hops, even from a database holding another domain's rows; its stuck flows with why;
resume and abort hand a flow to the sweep, and asking twice leaves it as asking once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from domains.registry import DOMAINS
from messaging.envelope import Envelope
from orchestrators.operations.answers import DomainAnswers
from orchestrators.operations.contracts import (
    AbortFlow,
    ListStuckFlows,
    ResumeFlow,
    ShowFlow,
    TraceFlow,
)
from orchestrators.process import DomainState
from orchestrators.state.database import Database
from orchestrators.state.inbox import Inbox
from orchestrators.state.journal import ChoreographyLog
from orchestrators.state.saga import Flow, SagaStore
from orchestrators.state.saga_claims import ABORTED, RESUMED
from orchestrators.state.tables import create_framework_tables


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[DomainState]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/shared.sqlite3")
    await create_framework_tables(database)
    yield DomainState(SagaStore(database), ChoreographyLog(database), Inbox(database))
    await database.close()


def answers(domain: str, state: DomainState) -> DomainAnswers:
    return DomainAnswers(DOMAINS[domain], state, stale_after=60.0)


def flow(workflow: str, correlation_id: str, trigger_id: str, **changes: object) -> Flow:
    return replace(Flow(workflow, correlation_id, "orchestration", trigger_id, {}), **changes)  # type: ignore[arg-type]


async def test_a_domain_answers_only_for_its_own_queues_and_workflows(state: DomainState) -> None:
    placed = Envelope.new_flow("orders.order.placed", "tests")
    flow_id = placed.correlation_id
    await state.inbox.record(placed, "orders.inbox", time.time())
    authorise = placed.caused("payments.payment.authorise", "payments")
    await state.inbox.record(authorise, "payments.gateway.rpc", time.time())
    await state.store.start(flow("accept_order", flow_id, "t-1"))
    await state.store.start(flow("take_payment", flow_id, "t-2"))

    hops = (await answers("orders", state).trace(TraceFlow(correlation_id=flow_id))).handled
    runs = (await answers("payments", state).show(ShowFlow(correlation_id=flow_id))).runs

    assert [hop.queue for hop in hops] == ["orders.inbox"]
    assert [(run.domain, run.workflow, run.current_step) for run in runs] == [
        ("payments", "take_payment", "authorise")
    ]


async def test_a_flow_past_its_deadline_is_stuck_until_an_operator_aborts_it(
    state: DomainState,
) -> None:
    await state.store.start(flow("take_payment", "c-late", "t-1", deadline=time.time() - 10))
    await state.store.start(flow("take_payment", "c-on-time", "t-2", deadline=time.time() + 300))
    payments = answers("payments", state)

    [stuck] = (await payments.stuck(ListStuckFlows())).flows
    aborted = await payments.abort(AbortFlow(correlation_id="c-late", reason="fraud"))
    again = await payments.abort(AbortFlow(correlation_id="c-late", reason="fraud"))
    [handed] = (await payments.stuck(ListStuckFlows())).flows
    elsewhere = await answers("orders", state).abort(AbortFlow(correlation_id="c-late", reason="x"))

    assert (stuck.correlation_id, stuck.step) == ("c-late", "authorise")
    assert stuck.reason.startswith("past its deadline by 1") and stuck.age_seconds >= 0
    assert [action.done for action in aborted.actions] == [
        "aborted: the next sweep compensates its steps and publishes its failure outcome"
    ]
    assert again.actions == aborted.actions  # the same mark, set again
    assert handed.reason == "aborted by an operator: the next sweep ends it"
    stored = await state.store.get("take_payment", "t-1")
    assert stored is not None and stored.claimed_by == ABORTED
    assert stored.failure == "aborted by an operator: fraud"
    assert elsewhere.actions == ()  # orders has no run of take_payment


async def test_a_resumed_flow_gets_a_new_deadline_and_is_left_to_the_sweep(
    state: DomainState,
) -> None:
    await state.store.start(flow("take_payment", "c-1", "t-1", deadline=time.time() - 10))

    resumed = await answers("payments", state).resume(
        ResumeFlow(correlation_id="c-1", workflow="take_payment", extend_by=120)
    )
    other_workflow = await answers("payments", state).resume(
        ResumeFlow(correlation_id="c-1", workflow="refund_payment")
    )

    [action] = resumed.actions
    assert action.done == "resumed: the next sweep drives it on from authorise, within 120s"
    stored = await state.store.get("take_payment", "t-1")
    assert stored is not None and stored.claimed_by == RESUMED
    assert stored.deadline > time.time() + 100
    assert other_workflow.actions == ()
