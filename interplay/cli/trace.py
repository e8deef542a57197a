"""``interplay trace``: every hop of one flow, in order, with the time spent at each."""

from __future__ import annotations

import typer
from rich.table import Table

from domains.registry import DOMAINS
from interplay.cli.flows import TIMEOUT, asked, finish
from interplay.cli.output import JSON, identifier_column, print_json, table_console
from interplay.operations.trace import Hop, handled, hops, mermaid
from interplay.settings import Settings


def trace(
    correlation_id: str = typer.Argument(..., help="The flow's correlation id."),
    as_mermaid: bool = typer.Option(False, "--mermaid", help="Print a mermaid sequenceDiagram."),
    timeout: float = TIMEOUT,
    as_json: bool = JSON,
) -> None:
    """Show every hop of one flow from the domains' inbox records, asked of the domains.

    Exit status as ``interplay flows show``: 1 when no domain handled a message of the flow,
    3 when some domain did not answer in time.
    """
    records, unanswered = asked(handled(Settings(), correlation_id, timeout=timeout))
    flow = hops(records, DOMAINS)
    if as_json:
        print_json({"correlation_id": correlation_id, "hops": flow, "unanswered": unanswered})
    elif not flow:
        table_console().print(f"no domain that answered has handled a message of {correlation_id}")
    elif as_mermaid:
        print(mermaid(flow))
    else:
        table_console().print(hops_table(correlation_id, flow))
    finish(unanswered, found=bool(flow))


def hops_table(correlation_id: str, flow: list[Hop]) -> Table:
    """One row a hop; message types and participants are never broken across lines."""
    table = Table(title=f"flow {correlation_id}: {len(flow)} hops")
    names = [name for hop in flow for name in (hop.type, hop.producer, hop.consumer)]
    for column in ("+ms", "message", "from", "to", "wire ms", "handled ms", "caused by"):
        identifier_column(table, column, names if column in ("message", "caused by") else ())
    start = flow[0].sent_at
    ids = {hop.message_id: hop.type for hop in flow}
    for hop in flow:
        table.add_row(
            f"{(hop.sent_at - start) * 1000:.1f}",
            hop.type,
            hop.producer,
            hop.consumer,
            f"{hop.wire_seconds * 1000:.1f}",
            f"{hop.handling_seconds * 1000:.1f}",
            ids.get(hop.causation_id or "", "-" if hop.causation_id is None else "(outside)"),
        )
    return table
