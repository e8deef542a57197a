"""Where flows stand in every domain, and an operator's resume and abort, asked of the domains
over the broker (``interplay.operations.ask``): each returns what the domains answered and who
did not answer in time."""

from __future__ import annotations

from interplay.operations.ask import ask_every_domain
from interplay.settings import Settings
from orchestrators.flows import FlowView
from orchestrators.operations.contracts import (
    AbortFlow,
    FlowRuns,
    ListStuckFlows,
    OperatorAction,
    OperatorActions,
    ResumeFlow,
    ShowFlow,
    StuckFlow,
    StuckFlows,
)

Unanswered = dict[str, str]  # domain -> why it gave no answer


async def flow_views(
    settings: Settings, correlation_id: str, *, timeout: float
) -> tuple[list[FlowView], Unanswered]:
    """Every domain's workflow runs of one flow, oldest first."""
    request = ShowFlow(correlation_id=correlation_id)
    answers = await ask_every_domain(settings, request, FlowRuns, timeout=timeout)
    runs = [run for reply in answers.replies.values() for run in reply.runs]
    return sorted(runs, key=lambda run: run.started_at), answers.unanswered


async def stuck_flows(
    settings: Settings, *, timeout: float, limit: int = 100
) -> tuple[list[StuckFlow], Unanswered]:
    """Every domain's unfinished flows that do not end by themselves, oldest first."""
    request = ListStuckFlows(limit=limit)
    answers = await ask_every_domain(settings, request, StuckFlows, timeout=timeout)
    flows = [flow for reply in answers.replies.values() for flow in reply.flows]
    return sorted(flows, key=lambda flow: flow.started_at), answers.unanswered


async def resume_flow(
    settings: Settings,
    correlation_id: str,
    *,
    workflow: str | None,
    extend_by: float,
    timeout: float,
) -> tuple[list[OperatorAction], Unanswered]:
    """Hand every unfinished run of the flow (of ``workflow`` only, when given) to its
    domain's sweep, to be driven on; the domains with no such run do nothing."""
    request = ResumeFlow(correlation_id=correlation_id, workflow=workflow, extend_by=extend_by)
    return await _act(settings, request, timeout)


async def abort_flow(
    settings: Settings, correlation_id: str, *, workflow: str | None, reason: str, timeout: float
) -> tuple[list[OperatorAction], Unanswered]:
    """End every unfinished run of the flow: compensated, its failure outcome published."""
    request = AbortFlow(correlation_id=correlation_id, workflow=workflow, reason=reason)
    return await _act(settings, request, timeout)


async def _act(
    settings: Settings, request: ResumeFlow | AbortFlow, timeout: float
) -> tuple[list[OperatorAction], Unanswered]:
    answers = await ask_every_domain(settings, request, OperatorActions, timeout=timeout)
    actions = [action for reply in answers.replies.values() for action in reply.actions]
    return actions, answers.unanswered
