"""``interplay dlq``: look at dead letters, replay them to where they came from, or purge them.

Looking takes nothing away: ``list`` and ``show`` hold what they read and give it all back.
``replay`` and ``purge`` remove a dead letter only once it is replayed (confirmed by the
broker) or deliberately purged.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC
from typing import Any, NoReturn, TypeVar

import typer
from aiormq.exceptions import AMQPError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from domains.registry import DOMAINS
from interplay.cli.output import (
    JSON,
    identifier_column,
    plain,
    print_json,
    table_console,
    text_column,
)
from interplay.operations.dead_letters import (
    MAX_PREFETCH,
    Selection,
    purge_dead_letters,
    read_dead_letters,
    replay_dead_letters,
)
from interplay.settings import Settings
from messaging.broker import Broker
from messaging.dead_letters import DeadLetter
from messaging.errors import RejectReason

app = typer.Typer(help="Dead letters: list, show, replay, purge.", no_args_is_help=True)
console = Console(soft_wrap=True, highlight=False)
errors = Console(stderr=True, soft_wrap=True, highlight=False)

T = TypeVar("T")

DOMAIN = typer.Option(None, "--domain", help="A domain (repeatable); default: every registered.")
TYPE = typer.Option(None, "--type", help="A message type (repeatable), e.g. orders.order.placed.")
REASON = typer.Option(
    None,
    "--reason",
    help=f"A reason (repeatable): {', '.join(RejectReason)}; or RabbitMQ's rejected, expired.",
)
SCAN = typer.Option(
    10_000, min=1, max=MAX_PREFETCH, help="Look at the oldest N dead letters of each domain."
)
IDS = typer.Argument(None, help="Message ids of the dead letters.", show_default=False)


@app.command("list")
def list_(
    domain: list[str] | None = DOMAIN,
    type_: list[str] | None = TYPE,
    reason: list[str] | None = REASON,
    limit: int = typer.Option(
        100, min=1, max=MAX_PREFETCH, help="Look at the oldest N dead letters of each domain."
    ),
    as_json: bool = JSON,
) -> None:
    """List dead letters, oldest first, leaving them all in their queues."""
    domains, selection = _domains(domain), _selection(None, type_, reason)
    reading = _with_broker(lambda broker: read_dead_letters(broker, domains, selection, limit))
    if as_json:
        print_json([_summary(letter) for letter in reading.letters])
        return
    letters = reading.letters
    table = Table(title="dead letters")
    # Ids whole: they are what show and replay take.
    identifier_column(table, "domain", (letter.domain for letter in letters))
    identifier_column(table, "message id", (letter.message_id or "-" for letter in letters))
    identifier_column(table, "type", (letter.type or "-" for letter in letters))
    identifier_column(table, "reason", (letter.reason or "-" for letter in letters))
    text_column(table, "detail")
    identifier_column(table, "from queue", (letter.queue or "-" for letter in letters))
    identifier_column(table, "when", ["2026-01-01 00:00:00"])
    identifier_column(table, "correlation id", (letter.correlation_id or "-" for letter in letters))
    for letter in letters:
        detail = letter.detail if len(letter.detail) <= 60 else letter.detail[:59] + "…"
        cells = (letter.domain, letter.message_id, letter.type, letter.reason, detail)
        when = letter.dead_lettered_at
        table.add_row(
            *(Text(_safe(cell or "-")) for cell in cells),
            Text(_safe(letter.queue or "-")),
            when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if when else "-",
            Text(_safe(letter.correlation_id or "-")),
        )
    table_console().print(table if reading.letters else "no dead letters")
    for name, depth in reading.depths.items():
        if depth > limit:
            console.print(f"{name}: looked at the oldest {limit} of {depth}; see --limit")


@app.command("show")
def show(
    message_id: str = typer.Argument(..., help="The dead letter's message id."),
    domain: list[str] | None = DOMAIN,
    limit: int = SCAN,
    max_bytes: int = typer.Option(4096, "--max-bytes", min=1, help="Show at most this much body."),
) -> None:
    """Show a dead letter's properties, every header and its body; it stays in its queue."""
    domains, selection = _domains(domain), _selection([message_id], None, None)
    reading = _with_broker(lambda broker: read_dead_letters(broker, domains, selection, limit))
    if not reading.letters:
        errors.print(f"no dead letter has message id {message_id}", markup=False)
        raise typer.Exit(1)
    shown = "\n\n".join(_describe(letter, max_bytes) for letter in reading.letters)
    console.print(Text(_safe(shown)))


@app.command("replay")
def replay(
    message_ids: list[str] | None = IDS,
    everything: bool = typer.Option(False, "--all", help="Replay all that the filters select."),
    domain: list[str] | None = DOMAIN,
    type_: list[str] | None = TYPE,
    reason: list[str] | None = REASON,
    limit: int = SCAN,
) -> None:
    """Publish dead letters back to the queue they came from, then remove them from the DLQ."""
    if not (message_ids or everything or domain or type_ or reason):
        _fail("say what to replay: message ids, --domain/--type/--reason, or --all")
    domains, selection = _domains(domain), _selection(message_ids, type_, reason)
    report = _with_broker(lambda broker: replay_dead_letters(broker, domains, selection, limit))
    for letter in report.replayed:
        console.print(
            Text(
                _safe(
                    f"replayed {letter.message_id} ({letter.type}, {letter.reason}) to "
                    f"{letter.queue}, replay {letter.replays + 1}"
                )
            )
        )
    for letter, why in report.refused:
        errors.print(Text(_safe(f"not replayed {letter.message_id}: {why}")))
    touched = {letter.message_id for letter in report.replayed}
    touched |= {letter.message_id for letter, _ in report.refused}
    missing = sorted(set(message_ids or ()) - touched)
    for message_id in missing:
        errors.print(Text(_safe(f"no dead letter has message id {message_id}")))
    console.print(f"replayed {len(report.replayed)} dead letter(s)")
    if report.refused or missing:
        raise typer.Exit(1)


@app.command("purge")
def purge(
    message_ids: list[str] | None = IDS,
    domain: list[str] | None = DOMAIN,
    type_: list[str] | None = TYPE,
    reason: list[str] | None = REASON,
    limit: int = SCAN,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Remove the selected dead letters for good (all of them when nothing narrows it)."""
    domains, selection = _domains(domain), _selection(message_ids, type_, reason)
    if not yes:
        typer.confirm(f"Remove {_what(domains, selection)} for good?", abort=True)
    removed = _with_broker(lambda broker: purge_dead_letters(broker, domains, selection, limit))
    console.print(f"removed {len(removed)} dead letter(s)")


def _with_broker(work: Callable[[Broker], Awaitable[T]]) -> T:
    async def run() -> T:
        broker = await Broker.connect(Settings().broker("interplay dlq"))
        try:
            return await work(broker)
        finally:
            await broker.close()

    try:
        return asyncio.run(run())
    except (OSError, AMQPError) as error:
        _fail(f"cannot use the broker: {error}")


def _domains(given: Sequence[str] | None) -> list[str]:
    unknown = sorted(set(given or ()) - set(DOMAINS))
    if unknown:
        _fail(f"unknown domain(s) {', '.join(unknown)}; known: {', '.join(DOMAINS)}")
    return list(given or DOMAINS)


def _selection(
    ids: Sequence[str] | None, types: Sequence[str] | None, reasons: Sequence[str] | None
) -> Selection:
    return Selection(frozenset(ids or ()), frozenset(types or ()), frozenset(reasons or ()))


def _what(domains: Sequence[str], selection: Selection) -> str:
    narrowed = [
        f"{name} {', '.join(sorted(values))}"
        for name, values in (
            ("message id", selection.message_ids),
            ("type", selection.types),
            ("reason", selection.reasons),
        )
        if values
    ]
    where = f"the dead letters of {', '.join(domains)}"
    return where + (f" with {' and '.join(narrowed)}" if narrowed else "")


def _summary(letter: DeadLetter) -> dict[str, Any]:
    when = letter.dead_lettered_at
    return {
        "domain": letter.domain,
        "message_id": letter.message_id,
        "correlation_id": letter.correlation_id,
        "type": letter.type,
        "reason": letter.reason,
        "detail": letter.detail,
        "queue": letter.queue,
        "routing_key": letter.routing_key,
        "dead_lettered_at": when.isoformat() if when else None,
        "replays": letter.replays,
    }


def _describe(letter: DeadLetter, max_bytes: int) -> str:
    properties = {
        "message_id": letter.message_id,
        "correlation_id": letter.correlation_id,
        "type": letter.type,
        "app_id": letter.app_id,
        "content_type": letter.content_type,
        "timestamp": letter.timestamp,
    }
    lines = [f"{letter.domain}.dead-letter: {letter.reason} from {letter.queue}", "properties"]
    lines += [f"  {name}: {_plain_text(value)}" for name, value in properties.items()]
    lines.append("headers")
    lines += [f"  {name}: {_plain_text(value)}" for name, value in sorted(letter.headers.items())]
    lines.append(f"body ({len(letter.body)} bytes)")
    lines.append(_body_text(letter.body, max_bytes))
    return "\n".join(lines)


def _body_text(body: bytes, max_bytes: int) -> str:
    """Pretty JSON if it is JSON, else Python's escaped repr; cut at ``max_bytes``."""
    if len(body) > max_bytes:
        return f"{body[:max_bytes]!r} … ({len(body) - max_bytes} more bytes)"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
        return repr(body)


def _plain_text(value: object) -> str:
    as_json = plain(value)
    return as_json if isinstance(as_json, str) else json.dumps(as_json, ensure_ascii=False)


def _safe(text: str) -> str:
    """No terminal control sequences from a message: what cannot be printed is escaped."""
    return "".join(c if c.isprintable() or c == "\n" else f"\\u{ord(c):04x}" for c in text)


def _fail(message: str) -> NoReturn:
    errors.print(Text(f"error: {message}", style="red"))
    raise typer.Exit(2)
