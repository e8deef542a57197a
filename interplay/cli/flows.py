"""``interplay flows show``: where one flow stands in every domain."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.table import Table

from domains.registry import DOMAINS
from interplay.settings import Settings
from orchestrators.flows import FlowView, journal_views, saga_view
from orchestrators.state.database import Database
from orchestrators.state.journal import ChoreographyLog
from orchestrators.state.saga import SagaStore
from orchestrators.state.tables import create_framework_tables

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


async def flow_views(settings: Settings, correlation_id: str) -> list[FlowView]:
    """The views of one flow from each domain's own database."""
    views: list[FlowView] = []
    for name, domain in DOMAINS.items():
        database = Database(settings.database_url_of(name))
        try:
            await create_framework_tables(database)  # a domain that never ran has none yet
            workflows = {workflow.name: workflow for workflow in domain.workflows}
            for flow in await SagaStore(database).of_correlation(correlation_id):
                if flow.workflow in workflows:  # one database may hold every domain's flows
                    views.append(saga_view(name, workflows[flow.workflow], flow))
            records = await ChoreographyLog(database).of_correlation(correlation_id)
            for workflow in domain.workflows:
                views.extend(journal_views(name, workflow, records))
        finally:
            await database.close()
    return views
