"""Each domain's own database: SQLite by default, PostgreSQL by URL, the same code.

Tables are SQLAlchemy Core tables on a domain's ``MetaData``; the saga store adds its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import Insert, MetaData, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from orchestrators import inline_sqlite


class Database:
    """An async engine for one domain's database URL.

    Example::

        database = Database("sqlite+aiosqlite:///.interplay/payments.sqlite3")
        await database.create(metadata)
        async with database.engine.begin() as connection:
            ...
    """

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.engine: AsyncEngine = _engine(url)

    async def create(self, *metadatas: MetaData) -> None:
        """Create the tables that are missing (no migrations: the reference schema is small).

        Replicas of a domain start together and race to create the same tables; the loser's
        "already exists" means the winner did the work, so it looks again.
        """
        for attempt in range(5):
            try:
                async with self.engine.begin() as connection:
                    for metadata in metadatas:
                        await connection.run_sync(metadata.create_all)
                return
            except DBAPIError as error:
                if "already exists" not in str(error) and "locked" not in str(error):
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
        where = self.url.render_as_string(hide_password=True)
        raise RuntimeError(f"could not create the tables of {where}")

    async def close(self) -> None:
        await self.engine.dispose()


def _engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
    # Statements run on the loop's thread (see inline_sqlite), over one connection per process
    # kept open; several processes of one domain may share the file: wait for their locks.
    database = parsed.database or ":memory:"
    pool: dict[str, Any] = {}
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        pool = {"pool_size": 1, "max_overflow": 0}
    connect = inline_sqlite.connector(database, timeout=30)
    engine = create_async_engine(url, async_creator=connect, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    return engine


async def create_tables(database: Database, metadata: MetaData) -> None:
    """A dependency-injector resource: a domain's tables exist before its services run."""
    await database.create(metadata)


_INSERTS_NEW: dict[tuple[str, str], Insert] = {}


def insert_new(connection: AsyncConnection, table: Table) -> Insert:
    """An insert into ``table`` that skips a row whose key is there already (``ON CONFLICT DO
    NOTHING``), so that a repeat inside a larger transaction does not undo the rest of it."""
    key = (connection.dialect.name, table.name)
    statement = _INSERTS_NEW.get(key)
    if statement is None:
        dialect = postgresql if key[0] == "postgresql" else sqlite
        statement = _INSERTS_NEW[key] = dialect.insert(table).on_conflict_do_nothing()
    return statement
