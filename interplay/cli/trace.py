"""``interplay trace``: every hop of one flow, in order, with the time spent at each."""

from __future__ import annotations

import asyncio
import sys

import typer
from rich.console import Console
from rich.table import Table

from domains.registry import DOMAINS
from interplay.operations.trace import Hop, handled, hops, mermaid
from interplay.settings import Settings

console = Console(width=None if sys.stdout.isatty() else 200)  # piped: no folded columns


def trace(
    correlation_id: str = typer.Argument(..., help="The flow's correlation id."),
    as_mermaid: bool = typer.Option(False, "--mermaid", help="Print a mermaid sequenceDiagram."),
) -> None:
    """Show every hop of one flow from the domains' inbox records."""
    flow = hops(asyncio.run(handled(Settings(), correlation_id)), DOMAINS)
    if not flow:
        console.print(f"no domain has handled a message of flow {correlation_id}")
        raise typer.Exit(1)
    if as_mermaid:
        print(mermaid(flow))
        return
    console.print(_table(correlation_id, flow))


def _table(correlation_id: str, flow: list[Hop]) -> Table:
    table = Table(title=f"flow {correlation_id}: {len(flow)} hops")
    for column in ("+ms", "message", "from", "to", "wire ms", "handled ms", "caused by"):
        table.add_column(column, overflow="fold")
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
