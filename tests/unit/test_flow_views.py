"""Reconstructing a choreographed flow from the step records its services kept."""

from __future__ import annotations

from domains.payments.workflow import take_payment
from orchestrators.flows import journal_views
from orchestrators.state.journal import StepRecord
from orchestrators.state.saga import FlowStatus


def record(step: str, outcome: str, at: float, reason: str | None = None) -> StepRecord:
    return StepRecord("take_payment", "trigger-1", step, outcome, "flow-1", reason, at)


def test_a_flow_with_its_first_step_done_is_running_at_the_next() -> None:
    (view,) = journal_views("payments", take_payment, [record("authorise", "done", 1)])
    assert view.status is FlowStatus.RUNNING
    assert view.current_step == "capture"
    assert view.pattern == "choreography"


def test_a_flow_whose_last_step_is_done_is_completed() -> None:
    records = [record("authorise", "done", 1), record("capture", "done", 2)]
    (view,) = journal_views("payments", take_payment, records)
    assert view.status is FlowStatus.COMPLETED
    assert view.current_step is None


def test_a_failure_being_unwound_is_compensating_until_the_first_step_is_undone() -> None:
    records = [record("authorise", "done", 1), record("capture", "failed", 2, "declined")]
    (view,) = journal_views("payments", take_payment, records)
    assert view.status is FlowStatus.COMPENSATING
    assert view.reason == "declined"

    (view,) = journal_views(
        "payments", take_payment, [*records, record("authorise", "compensated", 3)]
    )
    assert view.status is FlowStatus.FAILED
    assert view.compensated == ("authorise",)


def test_a_refused_first_step_fails_the_flow_at_once() -> None:
    (view,) = journal_views(
        "payments", take_payment, [record("authorise", "failed", 1, "declined")]
    )
    assert view.status is FlowStatus.FAILED
    assert view.failed_step == "authorise"
