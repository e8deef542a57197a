"""``interplay flows show``: where one flow stands in every domain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer
from rich.table import Table

from interplay.cli.output import JSON, identifier_column, print_json, table_console, text_column
from interplay.operations.flows import flow_views
from interplay.settings import Settings
from orchestrators.flows import FlowView

app = typer.Typer(help="Workflow runs and where they stand.", no_args_is_help=True)


@app.command("show")
def show(
    correlation_id: str = typer.Argument(..., help="The flow's correlation id."),
    as_json: bool = JSON,
) -> None:
    """Show every domain's workflow runs of one flow: steps done, current, compensated."""
    views = sorted(asyncio.run(flow_views(Settings(), correlation_id)), key=lambda v: v.started_at)
    if as_json:
        print_json({"correlation_id": correlation_id, "runs": views})
    elif views:
        table_console().print(runs_table(f"flow {correlation_id}", views))
    if not views:
        if not as_json:
            table_console().print(f"no domain has a record of flow {correlation_id}")
        raise typer.Exit(1)


def runs_table(title: str, views: list[FlowView]) -> Table:
    """Workflow runs, one a row; names whole, step lists and reasons wrapped between words."""
    rows = [
        (
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
        for view in views
    ]
    table = Table(title=title)
    for index, header in enumerate(("started", "domain", "workflow", "pattern", "status")):
        identifier_column(table, header, (row[index] for row in rows))
    for index, header in enumerate(("done", "now", "compensated", "reason"), start=5):
        text_column(table, header, (row[index] for row in rows))
    for row in rows:
        table.add_row(*row)
    return table
