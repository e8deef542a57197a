"""One flow, hop by hop, from what each domain's inbox recorded, asked of the domains.

Every consumed message — an event between domains, an RPC request, an internal choreography
event — was recorded by the queue that handled it, with its id, cause and times. Sorted by the
producer's timestamp they give the flow as it happened, with the time each hop spent on the
wire (sent -> received) and in its handler (received -> handled).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from interplay.operations.ask import ask_every_domain
from interplay.operations.flows import Unanswered
from interplay.settings import Settings
from orchestrators import Domain
from orchestrators.operations.contracts import FlowHops, TraceFlow
from orchestrators.state.inbox import HandledMessage


@dataclass(frozen=True, slots=True)
class Hop:
    """One message from a producer to the queue that handled it."""

    message_id: str
    causation_id: str | None
    type: str
    producer: str
    consumer: str
    sent_at: float
    wire_seconds: float
    handling_seconds: float


def consumer_of(queue: str, domains: Mapping[str, Domain]) -> str:
    """Who handles ``queue``: ``orders`` for an inbox, ``payments.gateway`` for a service."""
    parts = queue.split(".")
    domain = domains.get(parts[0])
    if domain is None or len(parts) < 2 or parts[1] == "inbox":
        return parts[0]
    if parts[-1] == "rpc":
        return f"{parts[0]}.{parts[1]}"
    for workflow in domain.workflows:  # <domain>.<workflow>.<step>: the step's service
        if workflow.name == parts[1]:
            for step in workflow.steps:
                if step.name == parts[2]:
                    return f"{parts[0]}.{step.service}"
    return queue


def hops(records: Iterable[HandledMessage], domains: Mapping[str, Domain]) -> list[Hop]:
    return [
        Hop(
            message_id=record.message_id,
            causation_id=record.causation_id,
            type=record.type,
            producer=record.source,
            consumer=consumer_of(record.queue, domains),
            sent_at=record.sent_at,
            wire_seconds=max(0.0, record.received_at - record.sent_at),
            handling_seconds=max(0.0, record.handled_at - record.received_at),
        )
        for record in sorted(records, key=lambda r: (r.sent_at, r.received_at))
    ]


def mermaid(flow: list[Hop]) -> str:
    """A mermaid ``sequenceDiagram`` of the flow, drawn from real traffic."""
    lines = ["sequenceDiagram"]
    participants: list[str] = []
    for hop in flow:
        for name in (hop.producer, hop.consumer):
            if name not in participants:
                participants.append(name)
    lines += [f"    participant {_id(name)} as {name}" for name in participants]
    start = flow[0].sent_at if flow else 0.0
    for hop in flow:
        arrow = "-)" if "." not in hop.consumer else "->>"  # events async, commands to services
        offset = (hop.sent_at - start) * 1000
        lines.append(
            f"    {_id(hop.producer)}{arrow}{_id(hop.consumer)}: {hop.type} "
            f"(+{offset:.0f} ms, wire {hop.wire_seconds * 1000:.1f} ms, "
            f"handled {hop.handling_seconds * 1000:.1f} ms)"
        )
    return "\n".join(lines)


def _id(name: str) -> str:
    return name.replace(".", "_").replace("-", "_")


async def handled(
    settings: Settings, correlation_id: str, *, timeout: float
) -> tuple[list[HandledMessage], Unanswered]:
    """What every domain's queues recorded of one flow, asked of the domains."""
    request = TraceFlow(correlation_id=correlation_id)
    answers = await ask_every_domain(settings, request, FlowHops, timeout=timeout)
    records = [record for reply in answers.replies.values() for record in reply.handled]
    return records, answers.unanswered
