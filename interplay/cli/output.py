"""Output for people and for scripts, shared by every listing command.

``--json`` prints one JSON document on stdout and nothing else, so that ``jq`` can read it.
Tables never break an identifier (a routing key, a message id, a queue) across lines: a script
that greps the table, or a person who copies an id from it, gets it whole. Identifier columns
are ``no_wrap`` and as wide as their longest value; the descriptive ones fold instead. Piped
output is not cut to the terminal's 80 columns: there is no terminal to fit.

Example::

    table = Table(title="dead letters")
    identifier_column(table, "message id", ids)
    text_column(table, "detail", details)
    if as_json:
        print_json(rows)
"""

from __future__ import annotations

import dataclasses
import enum
import json
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

PIPED_WIDTH = 1000  # wide enough for any row; rich tables take their natural width, not this


def table_console(*, stderr: bool = False) -> Console:
    """A console for tables: the terminal's width, or wide when piped."""
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else PIPED_WIDTH
    return Console(width=width, stderr=stderr, soft_wrap=False, highlight=False)


JSON = typer.Option(False, "--json", help="Print one JSON document on stdout, for scripts.")


def identifier_column(table: Table, header: str, values: Iterable[str] = ()) -> None:
    """A column of identifiers: never wrapped, and wide enough for the longest of ``values``."""
    width = max((len(value) for value in values), default=0)
    table.add_column(header, no_wrap=True, min_width=max(width, len(header)))


def text_column(table: Table, header: str, values: Iterable[str] = ()) -> None:
    """A column of prose (lists of names, fields, details): wrapped between words where the
    table needs room, and never narrower than its longest word, so no name is broken."""
    longest = max((len(word) for value in values for word in value.split()), default=0)
    table.add_column(header, overflow="fold", min_width=min(longest, 24) or None)


def print_json(value: object) -> None:
    """``value`` as one indented JSON document on stdout."""
    typer.echo(json.dumps(plain(value), indent=2, ensure_ascii=False))


def plain(value: object) -> Any:
    """A value as JSON can hold it: dataclasses as objects, enums as their values, times as
    ISO 8601, bytes as text, anything else unknown as its ``str`` (AMQP headers carry bytes,
    datetimes and decimals)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        return {field.name: plain(getattr(value, field.name)) for field in fields}
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return repr(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
