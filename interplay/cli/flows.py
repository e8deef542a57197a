"""``interplay flows``: where flows stand in every domain, the ones that do not end, and an
operator's resume and abort of one flow, all asked of the domains over the broker.

Every domain is asked at once; the answers are merged. Exit status: 0 when every domain
answered and something was found, 1 when every domain answered and none had a record, 3 when
some domain did not answer in time (named on stderr; what the others answered is printed),
2 for a bad argument or an unreachable broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import typer
from aio_pika.exceptions import AMQPError
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from interplay.cli.output import JSON, identifier_column, print_json, table_console, text_column
from interplay.operations.flows import (
    abort_flow,
    flow_views,
    resume_flow,
    stuck_flows,
)
from interplay.settings import Settings
from orchestrators.flows import FlowView
from orchestrators.operations.contracts import OperatorAction, StuckFlow

app = typer.Typer(help="Workflow runs and where they stand.", no_args_is_help=True)
errors = Console(stderr=True, soft_wrap=True)

NOTHING_FOUND = 1
UNANSWERED = 3
TIMEOUT = typer.Option(5.0, "--timeout", min=0.1, help="Seconds each domain has to answer.")
WORKFLOW = typer.Option(None, "--workflow", help="Only the runs of this workflow.")
T = TypeVar("T")


@app.command("show")
def show(
    correlation_id: str = typer.Argument(..., help="The flow's correlation id."),
    timeout: float = TIMEOUT,
    as_json: bool = JSON,
) -> None:
    """Show every domain's workflow runs of one flow: steps done, current, compensated.

    Every domain is asked over the broker at once. Exit status: 1 when every domain answered
    and none has a record of the flow, 3 when some domain did not answer in time (each named on
    stderr), 2 for a bad argument or an unreachable broker.
    """
    views, unanswered = asked(flow_views(Settings(), correlation_id, timeout=timeout))
    if as_json:
        print_json({"correlation_id": correlation_id, "runs": views, "unanswered": unanswered})
    elif views:
        table_console().print(runs_table(f"flow {correlation_id}", views))
    else:
        table_console().print(f"no domain that answered has a record of flow {correlation_id}")
    finish(unanswered, found=bool(views))


@app.command("list")
def list_flows(
    stuck: bool = typer.Option(
        False, "--stuck", help="The unfinished flows that do not end by themselves."
    ),
    limit: int = typer.Option(100, min=1, max=1000, help="At most this many from each domain."),
    timeout: float = TIMEOUT,
    as_json: bool = JSON,
) -> None:
    """List every domain's stuck flows (--stuck): past their deadline, compensating with no
    progress, or waiting for an operator; with the reason and their age."""
    if not stuck:
        fail("say --stuck: the flows that end by themselves are counted in Grafana, not listed")
    flows, unanswered = asked(stuck_flows(Settings(), timeout=timeout, limit=limit))
    if as_json:
        print_json({"flows": [flow.model_dump() for flow in flows], "unanswered": unanswered})
    elif flows:
        table_console().print(stuck_table(flows))
    else:
        table_console().print("no stuck flow in any domain that answered")
    finish(unanswered, found=True)  # none stuck is good news, not a missing record


@app.command("resume")
def resume(
    correlation_id: str = typer.Argument(..., help="The flow's correlation id."),
    workflow: str = WORKFLOW,
    extend_by: float = typer.Option(
        300.0, "--extend-by", help="Seconds the flow gets from now before its new deadline."
    ),
    timeout: float = TIMEOUT,
    as_json: bool = JSON,
) -> None:
    """Hand the flow's unfinished runs back to their domain's sweep, to be driven on."""
    work = resume_flow(
        Settings(), correlation_id, workflow=workflow, extend_by=extend_by, timeout=timeout
    )
    report_actions(correlation_id, *asked(work), as_json=as_json)


@app.command("abort")
def abort(
    correlation_id: str = typer.Argument(..., help="The flow's correlation id."),
    reason: str = typer.Option(..., "--reason", help="Why; it goes into the failure outcome."),
    workflow: str = WORKFLOW,
    timeout: float = TIMEOUT,
    as_json: bool = JSON,
) -> None:
    """End the flow's unfinished runs: compensated, and their failure outcomes published."""
    work = abort_flow(Settings(), correlation_id, workflow=workflow, reason=reason, timeout=timeout)
    report_actions(correlation_id, *asked(work), as_json=as_json)


def asked(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` (asking the domains); a bad argument or no broker is a clear error."""
    try:
        return asyncio.run(work)
    except ValidationError as error:
        fail("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()))
    except OSError as error:
        fail(f"cannot reach the broker: {error}")
    except AMQPError as error:  # a wrong password, a vhost this user may not use
        fail(f"the broker refused the connection: {error}")


def finish(unanswered: Mapping[str, str], *, found: bool) -> None:
    """Name each domain that did not answer, and exit as the module docstring says."""
    for domain, why in sorted(unanswered.items()):
        errors.print(f"[yellow]{domain} did not answer:[/yellow] {why}")
    if unanswered:
        raise typer.Exit(UNANSWERED)
    if not found:
        raise typer.Exit(NOTHING_FOUND)


def fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def report_actions(
    correlation_id: str,
    actions: list[OperatorAction],
    unanswered: Mapping[str, str],
    *,
    as_json: bool,
) -> None:
    if as_json:
        document = {
            "correlation_id": correlation_id,
            "actions": [action.model_dump() for action in actions],
            "unanswered": unanswered,
        }
        print_json(document)
    elif actions:
        table_console().print(actions_table(correlation_id, actions))
    else:
        table_console().print(
            f"no domain that answered has an unfinished run of flow {correlation_id}"
        )
    finish(unanswered, found=bool(actions))


def runs_table(title: str, views: list[FlowView]) -> Table:
    """Workflow runs, one a row; names whole, step lists and reasons wrapped between words."""
    rows = [
        (
            _clock(view.started_at),
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


def stuck_table(flows: list[StuckFlow]) -> Table:
    """Stuck flows, oldest first: who, where, and why, with the flow's id whole."""
    rows = [
        (
            age(flow.age_seconds),
            flow.domain,
            flow.workflow,
            flow.pattern,
            flow.status,
            flow.step or "-",
            flow.correlation_id,
            flow.reason,
        )
        for flow in flows
    ]
    table = Table(title=f"{len(flows)} stuck flows")
    headers = ("age", "domain", "workflow", "pattern", "status", "step", "correlation id")
    for index, header in enumerate(headers):
        identifier_column(table, header, (row[index] for row in rows))
    text_column(table, "reason", (row[-1] for row in rows))
    for row in rows:
        table.add_row(*row)
    return table


def actions_table(correlation_id: str, actions: list[OperatorAction]) -> Table:
    table = Table(title=f"flow {correlation_id}")
    rows = [(a.domain, a.workflow, a.pattern, a.trigger_id, a.done) for a in actions]
    for index, header in enumerate(("domain", "workflow", "pattern", "trigger id")):
        identifier_column(table, header, (row[index] for row in rows))
    text_column(table, "done", (row[-1] for row in rows))
    for row in rows:
        table.add_row(*row)
    return table


def age(seconds: float) -> str:
    """``42s``, ``5m07s``, ``3h02m``, ``2d03h``: two units at most, the largest first."""
    whole = int(seconds)
    for unit, size, smaller, small_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}{whole % size // small_size:02d}{smaller}"
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def _clock(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%H:%M:%S.%f")[:-3]
