"""``interplay run``: run one domain, one role of it, or the whole system."""

from __future__ import annotations

import asyncio
import signal

import typer
from rich.console import Console

from domains.registry import DOMAINS
from interplay import logs, telemetry
from interplay.bootstrap import bootstrap
from interplay.event_loop import EventLoopMissing, loop_factory
from interplay.settings import Settings

console = Console(stderr=True)


def run(
    domain: str = typer.Argument(None, help="The domain to run, e.g. payments."),
    all_domains: bool = typer.Option(False, "--all", help="Run every domain in this process."),
    role: str = typer.Option(
        "all",
        help="all, orchestrator, services (all of them), or one service of the domain, "
        "to scale them apart.",
    ),
) -> None:
    """Run domains until interrupted (SIGINT or SIGTERM)."""
    if all_domains == (domain is not None):
        raise typer.BadParameter("name one domain or pass --all")
    if domain is not None and domain not in DOMAINS:
        raise typer.BadParameter(f"unknown domain {domain!r}; known: {', '.join(DOMAINS)}")
    settings = Settings()
    logs.configure(settings.log_level, json_format=settings.log_format == "json")
    names = list(DOMAINS) if all_domains else [domain]
    for name in names:
        console.print(f"[bold]{name}[/bold] runs [cyan]{settings.pattern_of(name).value}[/cyan]")
    try:
        factory = loop_factory(settings.event_loop)
    except EventLoopMissing as error:
        console.print(f"[red]{error}")
        raise typer.Exit(2) from error
    service_name = "interplay" if all_domains else f"interplay-{domain}"
    try:
        shutdown_tracing = telemetry.configure(service_name)
    except telemetry.TracingMisconfigured as error:
        console.print(f"[red]{error}")
        raise typer.Exit(2) from error
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(_serve(settings, names, role))
    finally:
        if shutdown_tracing is not None:
            shutdown_tracing()


async def _serve(settings: Settings, names: list[str], role: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    system = await bootstrap(settings, names, role)
    metrics = f"http://{settings.metrics_host}:{system.metrics_port}/metrics"
    on = type(loop).__module__.split(".")[0]  # the loop actually running: asyncio or uvloop
    console.print(f"ready: metrics on {metrics}, event loop {on}")
    try:
        await stop.wait()
    finally:
        await system.stop()
