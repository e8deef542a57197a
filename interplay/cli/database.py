"""``interplay db``: each domain's database, its schema migrations and its retention.

Every command works on each domain's configured database (``INTERPLAY_DATABASE_URL``, ``{domain}``
replaced), or on one with ``--domain``. ``upgrade`` is what a deploy runs once before the domains
start when they are told not to migrate themselves (``INTERPLAY_MIGRATE_ON_START=false``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import import_module
from typing import TypeVar

import typer
from rich.console import Console

from domains.registry import DOMAINS
from interplay.settings import Settings
from orchestrators.state import inbox, journal, outbox, saga, schema
from orchestrators.state.database import Database
from orchestrators.state.retention import Retention

app = typer.Typer(help="Each domain's database: schema migrations and retention.")
console = Console(soft_wrap=True)
T = TypeVar("T")

DOMAIN = typer.Option(None, "--domain", help="One domain's database; every domain's if left out.")
FRAMEWORK_TABLES = (saga.metadata, journal.metadata, inbox.metadata, outbox.metadata)


@app.command("upgrade")
def upgrade(
    domain: str | None = DOMAIN,
    revision: str = typer.Option("heads", help="Where to: every branch's head, or a revision."),
) -> None:
    """Bring each domain's database to the newest schema: the framework's tables and its own."""

    async def migrate(database: Database, name: str) -> str:
        await schema.upgrade(database, _migrations(name), revision)
        return ", ".join(sorted(await schema.current(database)))

    _report(_each(domain, migrate))


@app.command("current")
def current(domain: str | None = DOMAIN) -> None:
    """Show the revisions each domain's database is at; exit 1 if one lags the code."""

    async def at(database: Database, name: str) -> str:
        revisions, heads = await schema.current(database), _migrations(name).heads()
        state = "up to date" if revisions == heads else f"behind: {', '.join(sorted(heads))}"
        return f"{', '.join(sorted(revisions)) or 'no revision'} ({state})"

    answers = _each(domain, at)
    _report(answers)
    if any("behind" in answer for answer in answers.values()):
        raise typer.Exit(1)


@app.command("history")
def history(domain: str = typer.Option(..., "--domain", help="The domain.")) -> None:
    """List the revisions of a domain's database, newest first, the framework's among them."""
    for script in _migrations(_known(domain)).history():
        title = (script.doc or "").splitlines()[0] if script.doc else ""
        console.print(f"{script.revision:<22} <- {script.down_revision or 'base':<22} {title}")


@app.command("revision")
def revision(
    domain: str = typer.Option(..., "--domain", help="The domain whose tables changed."),
    message: str = typer.Option(..., "-m", "--message", help="What the revision changes."),
) -> None:
    """Write the domain's next revision: what its ``repository.py`` tables have that its
    revisions do not make yet (Alembic's autogenerate, against a scratch SQLite database)."""
    metadata = [*FRAMEWORK_TABLES, import_module(f"domains.{_known(domain)}.repository").metadata]
    written = asyncio.run(schema.new_revision(_migrations(domain), metadata, domain, message))
    console.print(f"wrote {written.path}" if written else "nothing to write")


@app.command("prune")
def prune(domain: str | None = DOMAIN) -> None:
    """Delete handled inbox rows, sent outbox rows and ended flows older than
    ``INTERPLAY_RETENTION_AGE``, as each process does every ``INTERPLAY_RETENTION_EVERY``."""
    policy = Settings().retention_policy()

    async def delete(database: Database, _: str) -> str:
        deleted = await Retention(database, policy).prune()
        return ", ".join(f"{table} {rows}" for table, rows in deleted.items())

    _report(_each(domain, delete))


def _migrations(name: str) -> schema.Migrations:
    return schema.Migrations(DOMAINS[name].migrations)


def _known(domain: str) -> str:
    if domain not in DOMAINS:
        raise typer.BadParameter(f"unknown domain {domain!r}; known: {', '.join(DOMAINS)}")
    return domain


def _each(domain: str | None, work: Callable[[Database, str], Awaitable[T]]) -> dict[str, T]:
    """``work`` on each domain's database (or ``domain``'s), one after the other."""
    settings = Settings()
    names = [_known(domain)] if domain is not None else list(DOMAINS)

    async def each() -> dict[str, T]:
        answers: dict[str, T] = {}
        for name in names:
            database = Database(settings.database_url_of(name))
            try:
                answers[name] = await work(database, name)
            finally:
                await database.close()
        return answers

    return asyncio.run(each())


def _report(answers: dict[str, str]) -> None:
    for name, answer in answers.items():
        console.print(f"[bold]{name:<14}[/bold] {answer}")
