"""Each domain's own database: SQLite by default, PostgreSQL by URL, the same code.

Tables are SQLAlchemy Core tables on a domain's ``MetaData``; the saga store adds its own.
Repositories run their statements through ``Database.begin()`` (one transaction) and
``Database.connect()`` (reads), which take the cheapest path the backend allows: on PostgreSQL
SQLAlchemy's asyncio engine, on SQLite its plain engine on the loop's own thread (a statement on
a local file takes less time than a hand-off to another thread; see ``inline_sqlite``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import CursorResult, Engine, Executable, Insert, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from orchestrators.state import inline_sqlite

Parameters = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None
Rows = CursorResult[*tuple[Any, ...]]  # rows of any columns, as SQLAlchemy types them


class Statements(Protocol):
    """Where a repository runs statements: an ``AsyncConnection``, or SQLite's inline one."""

    @property
    def dialect(self) -> Dialect: ...

    async def execute(self, statement: Executable, parameters: Parameters = None) -> Rows: ...


class Database:
    """One domain's database URL: where its repositories run their statements.

    Example::

        database = Database("sqlite+aiosqlite:///.interplay/payments.sqlite3")
        await database.create(metadata)
        async with database.begin() as transaction:
            await transaction.execute(payments.insert(), {"order_id": "ord-1", ...})

    ``engine`` is SQLAlchemy's asyncio engine on the same URL, for what needs one.
    """

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = make_url(url)
        self.engine: AsyncEngine = _engine(url, pool_size)
        self._inline: Engine | None = None
        self._checkpoints: inline_sqlite.Checkpoints | None = None
        if self.url.get_backend_name() == "sqlite" and _file_of(url) != ":memory:":
            self._inline = inline_sqlite.engine(_file_of(url))
            self._checkpoints = inline_sqlite.Checkpoints(_file_of(url))
        # One SQLite connection per process, kept open (a checkout from the pool and its reset
        # cost a third of a one-insert transaction): a transaction waits for its turn here,
        # not on SQLite's lock.
        self._connection: Connection | None = None
        self._turn = asyncio.Lock()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Statements]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        if self._inline is None:
            async with self.engine.begin() as connection:
                yield connection
            return
        assert self._checkpoints is not None
        async with self._turn:
            kept = self._kept(self._inline)
            with kept.begin():
                yield InlineStatements(kept)
        self._checkpoints.committed()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Statements]:
        """A connection for reads (anything written and not committed is rolled back)."""
        if self._inline is None:
            async with self.engine.connect() as connection:
                yield connection
            return
        async with self._turn:
            kept = self._kept(self._inline)
            # Ended, never committed: a read transaction left open would hold the WAL's
            # snapshot, and checkpoints could not pass it.
            reads = kept.begin()
            try:
                yield InlineStatements(kept)
            finally:
                reads.rollback()

    def _kept(self, engine: Engine) -> Connection:
        """The process's SQLite connection, opened on first use and again if it was lost."""
        if self._connection is None or self._connection.invalidated or self._connection.closed:
            self._connection = engine.connect()
        return self._connection

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
        if self._checkpoints is not None:
            await self._checkpoints.wait()
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._inline is not None:
            self._inline.dispose()
        await self.engine.dispose()


class InlineStatements:
    """``Statements`` on a plain SQLAlchemy connection, run where they are awaited."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def dialect(self) -> Dialect:
        return self._connection.dialect

    async def execute(self, statement: Executable, parameters: Parameters = None) -> Rows:
        return self._connection.execute(statement, parameters)


def _file_of(url: str) -> str:
    return make_url(url).database or ":memory:"


def _engine(url: str, pool_size: int) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # PostgreSQL allows 100 connections by default, for every process of every domain.
        return create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
    database = _file_of(url)
    pool: dict[str, Any] = {}
    if database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        pool = {"pool_size": 1, "max_overflow": 0}
    engine = create_async_engine(
        url, async_creator=inline_sqlite.connector(database, timeout=30), **pool
    )
    inline_sqlite.set_pragmas(engine.sync_engine)
    return engine


async def create_tables(database: Database, metadata: MetaData) -> None:
    """A dependency-injector resource: a domain's tables exist before its services run."""
    await database.create(metadata)


_INSERTS_NEW: dict[tuple[str, str], Insert] = {}


def insert_new(statements: Statements, table: Table) -> Insert:
    """An insert into ``table`` that skips a row whose key is there already (``ON CONFLICT DO
    NOTHING``), so that a repeat inside a larger transaction does not undo the rest of it."""
    key = (statements.dialect.name, table.name)
    statement = _INSERTS_NEW.get(key)
    if statement is None:
        dialect = postgresql if key[0] == "postgresql" else sqlite
        statement = _INSERTS_NEW[key] = dialect.insert(table).on_conflict_do_nothing()
    return statement
