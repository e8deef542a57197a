"""``interplay new-domain``: generate a domain folder, its tests, its registration and deploy."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from domains.registry import DOMAINS
from interplay.cli.contracts import event_catalog
from interplay.scaffold.deploy import add_to_deploy
from interplay.scaffold.plan import ScaffoldError, plan_domain
from interplay.scaffold.project import scaffold, tidy
from orchestrators import Pattern

console = Console(soft_wrap=True, highlight=False)
errors = Console(stderr=True, soft_wrap=True)


def new_domain(
    name: str = typer.Argument(..., help="The domain's name, snake_case, e.g. billing."),
    on: str = typer.Option(
        "orders.order.placed", "--on", help="The event that starts its workflow (routing key)."
    ),
    steps: str = typer.Option(
        "check,confirm", help="The workflow's steps in order, comma-separated, e.g. invoice,send."
    ),
    entity: str = typer.Option(None, help="What the domain works on; the first step's name."),
    pattern: Pattern = typer.Option(
        Pattern.ORCHESTRATION, help="The pattern compose and Helm run it with."
    ),
    root: Path = typer.Option(Path("."), help="The project's root folder."),
) -> None:
    """Generate domains/<name>/ and its unit tests, register it, add it to compose and Helm."""
    try:
        plan = plan_domain(
            name,
            on,
            [step.strip() for step in steps.split(",") if step.strip()],
            event_catalog(),
            entity=entity,
            pattern=pattern,
            existing=list(DOMAINS),
        )
        written = scaffold(root, plan)
        formatted = tidy(root, written)
    except ScaffoldError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    console.print(f"[bold]{name}[/bold] runs {', '.join(plan.step_names)} on {on}:")
    for path in written:
        console.print(f"  wrote {path.relative_to(root)}")
    if not formatted:
        console.print("  [yellow]ruff is not installed: run `make format` before committing")
    for change in add_to_deploy(root, name, list(DOMAINS)[-1], pattern):
        if change.manual is None:
            console.print(f"  updated {change.path}")
            continue
        console.print(f"  [yellow]{change.path}: {change.manual}")
        for line in change.added:
            console.print(f"    {line}")
    console.print(
        f"\nNext:\n  .venv/bin/pytest tests/unit/domains/test_{name}_services.py\n"
        f"  after changing its tables: interplay db revision --domain {name} -m '...'\n"
        f"  interplay run --all, and in another terminal interplay publish orders.order.placed "
        f"--follow --data ... to see {plan.completed_key}\n"
        "  make test: the suite covers the new domain as it is (tests of every domain read the "
        "registry)"
    )
