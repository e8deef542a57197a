"""``interplay flows show``: where one flow stands in every domain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from interplay.operations.flows import flow_views
from interplay.settings import Settings

app = typer.Typer(help="Workflow runs and where they stand.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.command("show")
def show(correlation_id: str = typer.Argument(..., help="The flow's correlation id.")) -> None:
    """Show every domain's workflow runs of one flow: steps done, current, compensated."""
    views = asyncio.run(flow_views(Settings(), correlation_id))
    if not views:
        console.print(f"no domain has a record of flow {correlation_id}")
        raise typer.Exit(1)
    table = Table(title=f"flow {correlation_id}")
    for column in (
        "started",
        "domain",
        "workflow",
        "pattern",
        "status",
        "done",
        "now",
        "compensated",
        "reason",
    ):
        table.add_column(column, overflow="fold")
    for view in sorted(views, key=lambda v: v.started_at):
        table.add_row(
            datetime.fromtimestamp(view.started_at, UTC).strftime("%H:%M:%S.%f")[:-3],
            view.domain,
            view.workflow,
            view.pattern,
            view.status.value,
            ", ".join(view.done) or "-",
            view.current_step or "-",
            ", ".join(view.compensated) or "-",
            view.reason or "",
        )
    console.print(table)
