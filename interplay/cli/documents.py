"""``interplay asyncapi`` and ``interplay cli-reference``: documents generated from the code.

Both are committed, and tests regenerate and compare them, so that they cannot go stale.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from domains.registry import DOMAINS
from interplay import reference, yaml_text
from interplay.asyncapi import asyncapi_document

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
    output: Path = typer.Option(
        CLI_REFERENCE, "--output", "-o", help="Where to write; - for stdout."
    ),
) -> None:
    """Write the command line reference (docs/reference/cli.md) from the commands' help."""
    from interplay.cli import app  # the app that registers this command

    _write(reference.cli_reference(app), output)


def _write(text: str, output: Path) -> None:
    if str(output) == "-":
        print(text, end="")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")
