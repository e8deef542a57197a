"""Steps that wait, as pure logic: what a wait declares, how a flow waits, is answered or woken,
and how people see it; no broker (the behaviour on one: tests/integration/test_waits.py)."""

from __future__ import annotations

import time

import pytest

from domains.inventory.events import StockReserved
from domains.payments.container import domain as payments
from domains.payments.events import ChallengeCompleted, ChallengeOutcome
from domains.payments.workflow import take_payment
from orchestrators import Step, WaitFor, Workflow
from orchestrators.choreography.events import answered_key, internal_catalog, step_bindings
from orchestrators.flows import journal_views, saga_view
from orchestrators.orchestration.waits import resumed, woken
from orchestrators.state.journal import StepRecord
from orchestrators.state.saga import Flow, FlowStatus

CONTEXT = {"order_id": "ord-1", "correlation_id": "c-1", "card_token": "tok_3ds"}


def waiting_flow() -> Flow:
    flow = Flow("take_payment", "c-1", "orchestration", "t-1", dict(CONTEXT))
    result = {"payment_id": "pay_1", "challenge_required": True}
    return flow.waiting(result, until=time.time() + 60)


def test_a_wait_needs_a_positive_timeout() -> None:
    with pytest.raises(ValueError, match="positive timeout"):
        WaitFor(ChallengeCompleted, timeout=0)


def test_a_workflow_that_must_complete_cannot_wait_for_an_event() -> None:
    step = take_payment.steps[0]
    with pytest.raises(ValueError, match="cannot wait for an event"):
        Workflow("closing", triggers=(StockReserved,), steps=(step,), completed=StockReserved)


def test_the_awaited_event_is_consumed_by_the_domain_that_waits() -> None:
    assert ChallengeCompleted in payments.consumes
    assert take_payment.awaited == (ChallengeCompleted,)
    assert take_payment.awaiting("payments.challenge.completed") == (take_payment.steps[0],)


def test_a_waiting_step_is_bound_to_its_answer_under_choreography() -> None:
    key = answered_key(take_payment, take_payment.steps[0])
    assert key == "take_payment.authorise.answered"
    assert key in step_bindings(take_payment, 0)
    assert key not in step_bindings(take_payment, 1)
    assert key in internal_catalog(take_payment)


def test_a_flow_waits_at_its_step_with_the_reply_in_its_context() -> None:
    flow = waiting_flow()
    assert flow.status is FlowStatus.WAITING
    assert flow.next_step == 0 and flow.completed_steps == ()
    assert flow.context["payment_id"] == "pay_1"
    view = saga_view("payments", take_payment, flow)
    assert (view.status, view.current_step) == (FlowStatus.WAITING, "authorise")


def test_an_approved_answer_completes_the_step_and_the_flow_runs_on() -> None:
    answer = ChallengeCompleted(order_id="ord-1", outcome=ChallengeOutcome.APPROVED)
    flow = resumed(take_payment, waiting_flow(), answer)
    assert flow.status is FlowStatus.RUNNING
    assert (flow.next_step, flow.completed_steps) == (1, ("authorise",))
    assert flow.context["outcome"] == "approved"


def test_a_declined_answer_fails_the_step_and_undoes_its_command() -> None:
    answer = ChallengeCompleted(order_id="ord-1", outcome=ChallengeOutcome.DECLINED)
    flow = resumed(take_payment, waiting_flow(), answer)
    assert flow.status is FlowStatus.COMPENSATING
    assert flow.steps_to_undo() == ("authorise",)  # the authorisation happened: void it
    assert "declined" in str(flow.failure)


def test_the_end_of_a_wait_fails_an_event_wait_and_completes_a_timer() -> None:
    timed_out = woken(take_payment, waiting_flow(), wait_timeout=3.0)
    assert timed_out.status is FlowStatus.COMPENSATING
    assert timed_out.failure == "authorise: no payments.challenge.completed within 3s"
    timer = Workflow(
        "cool_off",
        triggers=(StockReserved,),
        steps=(
            Step("hold", "gateway", take_payment.steps[0].command, wait=WaitFor(None, 5.0)),
            take_payment.steps[1],
        ),
        completed=StockReserved,
        failed=StockReserved,
    )
    done = woken(timer, waiting_flow(), wait_timeout=None)
    assert (done.status, done.next_step) == (FlowStatus.RUNNING, 1)


def test_a_choreographed_flow_reads_as_waiting_until_it_is_answered() -> None:
    def record(outcome: str, at: float) -> StepRecord:
        return StepRecord("take_payment", "t-1", "authorise", outcome, "c-1", None, at)

    waiting = journal_views("payments", take_payment, [record("waiting", 1.0)])
    assert (waiting[0].status, waiting[0].current_step) == (FlowStatus.WAITING, "authorise")
    answered = journal_views(
        "payments", take_payment, [record("waiting", 1.0), record("answered", 2.0)]
    )
    assert answered[0].status is FlowStatus.RUNNING
