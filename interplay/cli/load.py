"""``interplay load``: orders at a steady rate, a live progress bar, a latency summary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from interplay.cli.output import print_json
from interplay.load.report import PERCENTILES, LoadReport
from interplay.load.run import DEFAULT_MIX, InvalidMix, LoadPlan, LoadRun, parse_mix
from interplay.settings import Settings
from messaging.errors import ExchangeMissing, PublishFailed

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def load(
    rate: float = typer.Option(10.0, min=0.1, help="Orders placed per second."),
    duration: float = typer.Option(10.0, min=0.1, help="Seconds to place orders for."),
    mix: str = typer.Option(
        DEFAULT_MIX,
        help="Paths and their weights: happy, declined, out_of_stock, unreachable "
        "(alias undeliverable), timeout, 3ds_approved, 3ds_declined, 3ds_unanswered (a card "
        "challenge the load answers, or leaves to time out).",
    ),
    timeout: float = typer.Option(30.0, help="Seconds a flow may take before it is unfinished."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the figures as JSON on stdout (the progress goes to stderr)."
    ),
    json_path: Path = typer.Option(None, "--json-file", help="Also write the figures here."),
) -> None:
    """Place sample orders at a steady rate and report how their flows ended, and how fast.

    Exits 1 when a flow did not end within the timeout.
    """
    try:
        plan = LoadPlan(rate, duration, parse_mix(mix), timeout)
    except InvalidMix as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    try:
        report = asyncio.run(_drive(Settings(), plan, errors if as_json else console))
    except PublishFailed as error:
        errors.print(f"[red]error:[/red] the broker did not take an order: {error}")
        raise typer.Exit(3) from error
    except ExchangeMissing as error:
        errors.print(f"[red]error:[/red] nowhere to place orders: {error}")
        raise typer.Exit(3) from error
    except OSError as error:
        errors.print(f"[red]error:[/red] cannot reach the broker: {error}")
        raise typer.Exit(3) from error
    if as_json:
        print_json(report.to_json())
    else:
        print_report(report)
    if json_path is not None:
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")
        (errors if as_json else console).print(f"figures written to {json_path}")
    if report.unfinished:
        raise typer.Exit(1)


async def _drive(settings: Settings, plan: LoadPlan, shown_on: Console) -> LoadReport:
    run = LoadRun(plan)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=shown_on, transient=False) as progress:
        placing = progress.add_task("placing", total=plan.total, counts="")
        ending = progress.add_task("ended", total=plan.total, counts="")
        task = asyncio.create_task(run.run(settings.broker("interplay load")))
        while True:
            counts = run.counts()
            live = f"completed {counts['completed']}  cancelled {counts['cancelled']}"
            progress.update(placing, completed=counts["placed"])
            progress.update(ending, completed=counts["placed"] - counts["in_flight"], counts=live)
            if task.done():
                return task.result()
            await asyncio.wait({task}, timeout=0.2)


def print_report(report: LoadReport) -> None:
    """The flows by path and outcome, the latency by outcome, and the unfinished flows."""
    console.print(
        f"placed {report.placed} orders at {report.achieved_rate:.1f}/s "
        f"(asked {report.rate:g}/s for {report.duration:g}s)"
    )
    flows = Table(title="flows by path")
    outcomes = ("completed", "cancelled", "rejected", "unfinished")
    for column in ("path", "placed", *outcomes):
        flows.add_column(column, justify="left" if column == "path" else "right")
    for path, counts in sorted(report.by_path.items()):
        flows.add_row(path, *(str(counts.get(column, 0)) for column in ("placed", *outcomes)))
    console.print(flows)
    latency = Table(title="end-to-end latency (placed -> order completed or cancelled), ms")
    for column in ("outcome", "flows", *(f"p{share}" for share in PERCENTILES), "max"):
        latency.add_column(column, justify="left" if column == "outcome" else "right")
    for outcome, figures in report.latency.items():
        values = (figures.p50, figures.p95, figures.p99, figures.max)
        latency.add_row(outcome, str(figures.count), *(f"{value * 1000:.0f}" for value in values))
    console.print(latency)
    if report.unfinished:
        console.print(f"[red]{len(report.unfinished)} flows did not finish in {report.timeout:g}s:")
        for correlation_id, flow in report.unfinished[:20]:
            console.print(f"  {correlation_id}  {flow.order_id}  ({flow.path})")
