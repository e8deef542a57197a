"""``interplay docs``, ``interplay asyncapi`` and ``interplay cli-reference``: documents generated
from the code.

Both are committed, and tests regenerate and compare them, so that they cannot go stale.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from domains.registry import DOMAINS
from interplay.docs import cli_reference as cli_reference_doc
from interplay.docs import reference, yaml_text
from interplay.docs.asyncapi import asyncapi_document

console = Console(stderr=True)

ASYNCAPI = Path("docs/asyncapi.yaml")
CLI_REFERENCE = Path("docs/reference/cli.md")


def asyncapi_text() -> str:
    return yaml_text.dumps(asyncapi_document(DOMAINS.values()))


def asyncapi(
    output: Path = typer.Option(ASYNCAPI, "--output", "-o", help="Where to write; - for stdout."),
) -> None:
    """Write the AsyncAPI 3.0 document of the events, RPC queues and replies."""
    _write(asyncapi_text(), output)


def cli_reference(
    context: typer.Context,
    output: Path = typer.Option(
        CLI_REFERENCE, "--output", "-o", help="Where to write; - for stdout."
    ),
) -> None:
    """Write the command line reference (docs/reference/cli.md) from the commands' help."""
    # The running command line, rather than an import of the app that registers this command.
    _write(cli_reference_doc.command_reference(context.find_root().command), output)


def _write(text: str, output: Path) -> None:
    if str(output) == "-":
        print(text, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")


def docs(
    output: Path = typer.Option(Path("docs/reference"), help="Where the reference files go."),
    check: bool = typer.Option(False, "--check", help="Write nothing; exit 1 if one is stale."),
) -> None:
    """Generate docs/reference/{events,metrics,configuration}.md from the code."""
    if not check:
        for path in reference.write(output):
            typer.echo(f"wrote {path}")
        return
    outdated = reference.stale(output)
    for path in outdated:
        typer.echo(f"{path} is stale: run `interplay docs`", err=True)
    raise typer.Exit(1 if outdated else 0)
