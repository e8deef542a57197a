"""The store's side of "every flow ends": of two sweepers one claims a stuck flow, an
orchestrator still on it learns that it was taken over, a flow marked for an operator is left
alone and counted, and an operator's resume or abort hands it back to the sweep."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from interplay.load.sample_orders import HAPPY, order
from messaging.consumer import Delivery
from messaging.envelope import Envelope
from orchestrators.state.database import Database
from orchestrators.state.journal import ChoreographyLog, FlowStart
from orchestrators.state.journal_claims import JournalClaims
from orchestrators.state.saga import Flow, FlowStatus, FlowTakenOver, SagaStore
from orchestrators.state.saga_claims import ABORTED, RESUMED, SagaClaims
from orchestrators.state.tables import create_framework_tables

NOW = time.time()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/payments.sqlite3")
    await create_framework_tables(database)
    yield database
    await database.close()


def stuck(trigger_id: str = "t-1", **changes: object) -> Flow:
    fields: dict[str, object] = {
        "workflow": "take_payment",
        "correlation_id": "c-1",
        "pattern": "orchestration",
        "trigger_id": trigger_id,
        "context": {"order_id": "ord-1", "trigger": "inventory.stock.reserved"},
        "deadline": NOW - 100,
        **changes,
    }
    return Flow(**fields)  # type: ignore[arg-type]


async def test_of_two_sweepers_only_one_claims_a_flow_past_its_deadline(
    database: Database,
) -> None:
    await SagaStore(database).start(stuck())
    first, second = SagaClaims(database, "replica-a"), SagaClaims(database, "replica-b")
    [seen_by_first] = await first.overdue(NOW, grace=0, stale_after=60)
    [seen_by_second] = await second.overdue(NOW, grace=0, stale_after=60)

    assert await first.claim(seen_by_first, NOW) is not None
    assert await second.claim(seen_by_second, NOW) is None
    assert await second.overdue(NOW, grace=0, stale_after=60) == []  # held while the lease lasts


async def test_an_orchestrator_still_on_a_claimed_flow_learns_it_was_taken_over(
    database: Database,
) -> None:
    store = SagaStore(database)
    running = await store.start(stuck())
    claims = SagaClaims(database, "replica-a")
    assert await claims.claim(running, NOW) is not None

    with pytest.raises(FlowTakenOver):
        await store.save(running.step_done("authorise", {"payment_id": "pay-1"}))


async def test_a_claim_that_ran_out_is_swept_again(database: Database) -> None:
    await SagaStore(database).start(stuck())
    claims = SagaClaims(database, "replica-a", lease=10)
    [flow] = await claims.overdue(NOW, grace=0, stale_after=60)
    assert await claims.claim(flow, NOW) is not None

    later = NOW + 11
    [again] = await SagaClaims(database, "replica-b").overdue(later, grace=0, stale_after=60)
    assert await SagaClaims(database, "replica-b").claim(again, later) is not None


async def test_flows_in_time_or_ended_are_not_swept_but_a_stale_compensation_is(
    database: Database,
) -> None:
    store, now = SagaStore(database), time.time()
    await store.start(stuck("in-time", deadline=now + 100))
    ended = await store.start(stuck("ended"))
    await store.save(ended.step_failed("authorise", "declined").finished().outcome_recorded())
    compensating = await store.start(stuck("compensating", deadline=now + 100))
    await store.save(compensating.step_failed("capture", "fault", uncertain=True))

    due = await SagaClaims(database, "a").overdue(now + 61, grace=0, stale_after=60)
    assert [flow.trigger_id for flow in due] == ["compensating"]


async def test_a_flow_marked_for_an_operator_is_left_alone_and_counted(
    database: Database,
) -> None:
    await SagaStore(database).start(stuck())
    claims = SagaClaims(database, "replica-a")
    [flow] = await claims.overdue(NOW, grace=0, stale_after=60)
    claimed = await claims.claim(flow, NOW)
    assert claimed is not None
    marked = await claims.mark_for_operator(claimed, "a compensation keeps failing")

    assert marked.operator_reason == "a compensation keeps failing"
    assert await claims.overdue(NOW + 3600, grace=0, stale_after=60) == []
    assert await claims.awaiting_operator() == 1
    assert marked.held_elsewhere(NOW)  # a replayed trigger leaves it to the operator too


async def test_resume_hands_a_marked_flow_back_to_the_sweep_with_a_new_deadline(
    database: Database,
) -> None:
    await SagaStore(database).start(stuck())
    claims = SagaClaims(database, "replica-a")
    [flow] = await claims.overdue(NOW, grace=0, stale_after=60)
    claimed = await claims.claim(flow, NOW)
    assert claimed is not None
    await claims.mark_for_operator(claimed, "must complete")

    resumed = await claims.resume("take_payment", "t-1", extend_by=600)

    assert resumed is not None and resumed.operator_reason is None
    assert resumed.claimed_by == RESUMED and resumed.deadline > NOW + 500
    assert [f.trigger_id for f in await claims.overdue(time.time(), grace=0, stale_after=60)] == [
        "t-1"
    ]
    assert await claims.awaiting_operator() == 0
    assert await claims.resume("take_payment", "no-such-flow", extend_by=600) is None


async def test_abort_hands_the_flow_to_the_sweep_with_the_operators_reason(
    database: Database,
) -> None:
    await SagaStore(database).start(stuck(deadline=NOW + 3600))

    aborted = await SagaClaims(database, "op").abort("take_payment", "t-1", "customer called")

    assert aborted is not None and aborted.claimed_by == ABORTED
    assert aborted.failure == "aborted by an operator: customer called"
    assert aborted.status is FlowStatus.RUNNING  # the sweep, knowing the steps, fails it
    [due] = await SagaClaims(database, "a").overdue(NOW, grace=0, stale_after=60)
    assert due.trigger_id == "t-1"


async def start_choreographed(database: Database, trigger_id: str, deadline: float) -> None:
    trigger = Delivery(Envelope.new_flow("inventory.stock.reserved", "inventory"), order(HAPPY))
    start = FlowStart("take_payment", trigger_id, "c-1", {"order_id": "o"}, NOW - 200, deadline)
    await ChoreographyLog(database).start_flows([start], handled=trigger)


async def test_of_two_choreography_sweepers_one_claims_and_an_ended_flow_is_left(
    database: Database,
) -> None:
    journal = ChoreographyLog(database)
    await start_choreographed(database, "stuck", NOW - 100)
    await start_choreographed(database, "ended", NOW - 100)
    await journal.end_flow(
        correlation_id="c-1",
        workflow="take_payment",
        trigger_id="ended",
        status="failed",
        outcome=None,
    )
    first, second = JournalClaims(database, "a"), JournalClaims(database, "b")
    [flow] = await first.overdue(NOW, grace=0)
    [same] = await second.overdue(NOW, grace=0)

    assert flow.trigger_id == "stuck" and flow.sweeps == 0
    claimed = await first.claim(flow, NOW)
    assert claimed is not None and claimed.sweeps == 1
    assert await second.claim(same, NOW) is None


async def test_a_choreographed_flow_marked_resumed_and_aborted(database: Database) -> None:
    await start_choreographed(database, "stuck", NOW - 100)
    claims = JournalClaims(database, "a")
    [flow] = await claims.overdue(NOW, grace=0)
    await claims.mark_for_operator(flow, "must complete")
    assert await claims.overdue(NOW, grace=0) == [] and await claims.awaiting_operator() == 1

    assert await claims.resume("take_payment", "stuck", extend_by=600)
    assert await claims.overdue(NOW, grace=0) == [] and await claims.awaiting_operator() == 0

    assert await claims.abort("take_payment", "stuck", "customer called")
    [aborted] = await claims.overdue(time.time(), grace=0)
    assert aborted.failure == "aborted by an operator: customer called"
