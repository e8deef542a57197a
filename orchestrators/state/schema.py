"""A domain database's schema, by Alembic migrations: the framework's tables and the domain's own.

One Alembic environment (``orchestrators/state/migrations/env.py``) serves every domain
database; what differs is where the revisions are. The framework's (saga, journal, inbox,
outbox) are in ``orchestrators/state/migrations/versions``, branch ``framework``; a domain's own
are in ``domains/<name>/migrations``, branch ``<name>``. The two branches are independent and
recorded in the database's one ``alembic_version`` table, so a copied domain brings its folder
and nothing here names a domain.

Example::

    migrations = Migrations(Path("domains/payments/migrations"))
    await upgrade(database, migrations)  # every branch to its head
    await require_current(database, migrations, "payments")  # or SchemaOutOfDate

Replicas start together, so an upgrade holds a lock: on PostgreSQL a transaction-level
advisory lock, on a SQLite file ``BEGIN IMMEDIATE``. The second replica waits, then finds
nothing left to do. The revisions of one upgrade commit together (DDL is transactional on both).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, MetaData, NullPool, create_engine, event, text

from orchestrators.state.database import Database

ENVIRONMENT = Path(__file__).parent / "migrations"
FRAMEWORK = "framework"  # the branch label of the framework's revisions
LOCK_KEY = 0x696E74706C6179  # "intplay": PostgreSQL's advisory lock of migrations
T = TypeVar("T")


class SchemaOutOfDate(Exception):
    """The database lags the code (or is ahead of it); the message says what to run."""


@dataclass(frozen=True, slots=True)
class Migrations:
    """Where one domain database's revisions are: the framework's, and the domain's folder
    (``None`` or a missing folder: the framework's tables only)."""

    domain_versions: Path | None = None

    def config(self, connection: Connection | None = None, **attributes: Any) -> Config:
        config = Config()
        config.set_main_option("script_location", str(ENVIRONMENT))
        config.set_main_option("path_separator", "os")
        locations = [ENVIRONMENT / "versions"]
        if self.domain_versions is not None and self.domain_versions.is_dir():
            locations.append(self.domain_versions)
        config.set_main_option("version_locations", os.pathsep.join(map(str, locations)))
        config.attributes.update(connection=connection, **attributes)
        return config

    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    def heads(self) -> set[str]:
        return set(self.script().get_heads())

    def history(self) -> list[Script]:
        """Every revision, newest first."""
        return list(self.script().walk_revisions())


async def upgrade(database: Database, migrations: Migrations, target: str = "heads") -> None:
    """Apply the revisions ``database`` lacks up to ``target`` (every branch's head)."""
    await _locked(database, lambda c: command.upgrade(migrations.config(c), target))


async def upgrade_if_new(database: Database, migrations: Migrations, target: str) -> bool:
    """``upgrade`` a database that has no revision yet (its domain never ran); leave one that
    has any alone, as its own migrations are not in ``migrations``. True if it upgraded."""

    def unless_versioned(connection: Connection) -> bool:
        if MigrationContext.configure(connection).get_current_heads():
            return False
        command.upgrade(migrations.config(connection), target)
        return True

    return await _locked(database, unless_versioned)


async def downgrade(database: Database, migrations: Migrations, target: str) -> None:
    """Undo revisions down to ``target`` (``framework@base``, ``payments@-1``...)."""
    await _locked(database, lambda c: command.downgrade(migrations.config(c), target))


async def current(database: Database) -> set[str]:
    """The revisions ``database`` is at: one per branch; empty before its first upgrade."""
    return await _locked(database, lambda c: set(MigrationContext.configure(c).get_current_heads()))


async def require_current(database: Database, migrations: Migrations, domain: str) -> None:
    """Raise ``SchemaOutOfDate`` unless ``database`` is at every head of ``migrations``."""
    at, heads = await current(database), migrations.heads()
    if at != heads:
        raise SchemaOutOfDate(
            f"the database of {domain} is at {sorted(at) or 'no revision'}, the code at "
            f"{sorted(heads)}: run `interplay db upgrade --domain {domain}` first"
        )


async def new_revision(
    migrations: Migrations, metadata: list[MetaData], branch: str, message: str
) -> Script | None:
    """Write the next revision of ``branch`` into its folder: what ``metadata`` (every table of
    the database, the framework's too) has that the revisions do not make yet, autogenerated
    against a scratch SQLite database brought to every head."""
    with tempfile.TemporaryDirectory() as scratch:
        database = Database(f"sqlite+aiosqlite:///{Path(scratch) / 'scratch.sqlite3'}")
        try:
            await upgrade(database, migrations)
            return await _locked(
                database, lambda c: _revise(c, migrations, metadata, branch, message)
            )
        finally:
            await database.close()


def _revise(
    connection: Connection,
    migrations: Migrations,
    metadata: list[MetaData],
    branch: str,
    message: str,
) -> Script | None:
    folder = ENVIRONMENT / "versions" if branch == FRAMEWORK else migrations.domain_versions
    assert folder is not None, "a domain's revisions need its migrations folder"
    folder.mkdir(parents=True, exist_ok=True)
    number = _revisions_of(migrations, branch) + 1
    script = command.revision(
        migrations.config(connection, metadata=metadata),
        message,
        autogenerate=True,
        head="base" if number == 1 else f"{branch}@head",
        branch_label=branch if number == 1 else None,
        version_path=str(folder),
        rev_id=f"{branch}_{number:04d}",
    )
    return script if isinstance(script, Script) else None


def _revisions_of(migrations: Migrations, branch: str) -> int:
    """How many revisions ``branch`` has: its revisions are ``<branch>_0001`` onwards."""
    return sum(s.revision.startswith(f"{branch}_") for s in migrations.history())


async def _locked(database: Database, work: Callable[[Connection], T]) -> T:
    """``work`` on a connection of ``database``, in one transaction holding the migration lock."""
    path = database.url.database or ":memory:"
    if database.url.get_backend_name() == "sqlite" and path != ":memory:":
        return await asyncio.to_thread(_on_sqlite_file, path, work)
    async with database.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        return await connection.run_sync(work)


def _on_sqlite_file(path: str, work: Callable[[Connection], T]) -> T:
    """``work`` in a ``BEGIN IMMEDIATE`` transaction: the write lock taken up front, so that a
    second migrator waits for the first (the driver would run DDL outside any transaction)."""
    engine = create_engine(f"sqlite:///{path}", poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _autocommit_driver(connection: Any, _record: Any) -> None:
        connection.isolation_level = None  # transactions are ours to begin, below

    @event.listens_for(engine, "begin")
    def _immediate(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    try:
        with engine.begin() as connection:
            return work(connection)
    finally:
        engine.dispose()
