"""Where a flow stands in one domain, whichever pattern ran it.

An orchestrated domain knows from its saga rows. A choreographed one has no orchestrator, so
its state is reconstructed from the records its services kept of the steps they handled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from orchestrators.state.journal import StepRecord
from orchestrators.state.saga import Flow, FlowStatus
from orchestrators.workflow import Pattern, Workflow


@dataclass(frozen=True, slots=True)
class FlowView:
    """One workflow run of one domain, as people read it."""

    domain: str
    workflow: str
    pattern: str
    status: FlowStatus
    done: tuple[str, ...]
    compensated: tuple[str, ...]
    current_step: str | None
    failed_step: str | None
    reason: str | None
    started_at: float


def saga_view(domain: str, workflow: Workflow, flow: Flow) -> FlowView:
    in_step = flow.status in (FlowStatus.RUNNING, FlowStatus.WAITING)
    running = in_step and flow.next_step < len(workflow.steps)
    return FlowView(
        domain=domain,
        workflow=flow.workflow,
        pattern=flow.pattern,
        status=flow.status,
        done=flow.completed_steps,
        compensated=flow.compensated_steps,
        current_step=workflow.steps[flow.next_step].name if running else None,
        failed_step=flow.failed_step,
        reason=flow.failure,
        started_at=flow.started_at,
    )


def journal_views(domain: str, workflow: Workflow, records: Iterable[StepRecord]) -> list[FlowView]:
    """Reconstruct each run of ``workflow`` from its step records."""
    runs: dict[str, list[StepRecord]] = defaultdict(list)
    for record in records:
        if record.workflow == workflow.name:
            runs[record.trigger_id].append(record)
    return [_from_records(domain, workflow, sorted(r, key=lambda x: x.at)) for r in runs.values()]


def _from_records(domain: str, workflow: Workflow, records: list[StepRecord]) -> FlowView:
    names = [step.name for step in workflow.steps]
    done = tuple(r.step for r in records if r.outcome == "done")
    compensated = tuple(r.step for r in records if r.outcome == "compensated")
    failed = next((r for r in records if r.outcome == "failed"), None)
    if names[-1] in done:
        status = FlowStatus.COMPLETED
    elif names[0] in compensated or (failed is not None and failed.step == names[0]):
        status = FlowStatus.FAILED
    elif failed is not None or compensated:
        status = FlowStatus.COMPENSATING
    else:
        status = FlowStatus.RUNNING
    current = names[len(done)] if status is FlowStatus.RUNNING and len(done) < len(names) else None
    answered = {r.step for r in records if r.outcome == "answered"}
    if current in {r.step for r in records if r.outcome == "waiting"} - answered:
        status = FlowStatus.WAITING  # for an event or a timer, after its command
    return FlowView(
        domain=domain,
        workflow=workflow.name,
        pattern=Pattern.CHOREOGRAPHY.value,
        status=status,
        done=done,
        compensated=compensated,
        current_step=current,
        failed_step=failed.step if failed else None,
        reason=failed.reason if failed else None,
        started_at=records[0].at,
    )
