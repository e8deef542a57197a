"""SQLite on the event loop's own thread, without a hand-off per call.

aiosqlite runs each call (execute, fetch, commit, rollback) on a thread of its own and wakes the
event loop for the result: five or six hops of a few hundred µs of CPU each per transaction, four
times the work SQLite itself does (docs/performance.md). A statement on a local SQLite file takes
tens of µs, less than a hop costs, so here it runs where it is awaited. Two ways in:

- ``engine``: SQLAlchemy's plain engine on the file, what ``Database.begin()`` and
  ``Database.connect()`` run on; no greenlet between the caller and SQLite either;
- ``connector``: for SQLAlchemy's asyncio engine (``Database.engine``), an object that looks like
  ``aiosqlite.connect``'s to the aiosqlite dialect, so URLs, dialect and errors stay its own.

Running inline blocks the loop while SQLite waits for a lock another process holds; a domain's
transactions are short and never wait on the network inside, so that wait is short too. Within
one process each engine keeps a single connection, and ``Database`` lets one transaction at a
time use it: the others wait for their turn without blocking the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Engine, create_engine, event


class InlineCursor:
    """An ``aiosqlite.Cursor`` look-alike whose coroutines finish without suspending."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        self._cursor.execute(sql, () if parameters is None else parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """An ``aiosqlite.Connection`` look-alike over a ``sqlite3`` connection used in place."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection: sqlite3.Connection | None = connection

    @property
    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def isolation_level(self) -> str | None:
        return self._open.isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._open.cursor())

    async def commit(self) -> None:
        self._open.commit()

    async def rollback(self) -> None:
        self._open.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open.create_function(*args, **kwargs)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def stop(self) -> None:
        """Close at once (SQLAlchemy's terminate); nothing runs elsewhere to wait for."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def connector(database: str, *, timeout: float) -> Callable[[], Awaitable[InlineConnection]]:
    """An engine's ``async_creator``: connects to the file ``database``, waiting ``timeout``
    seconds for another process's lock."""

    async def connect() -> InlineConnection:
        # check_same_thread off: the pool may close a connection from the garbage collector.
        return InlineConnection(sqlite3.connect(database, timeout=timeout, check_same_thread=False))

    return connect


def engine(database: str) -> Engine:
    """SQLAlchemy's plain engine on the file ``database``, one connection kept open.

    Its commits never checkpoint the WAL into the database file: a checkpoint writes and
    fsyncs the file, milliseconds to tens of them on a busy disk, which would stall the loop.
    ``Checkpoints`` runs them on a thread instead.
    """
    plain = create_engine(
        f"sqlite:///{database}",
        pool_size=1,
        max_overflow=0,
        connect_args={"timeout": 30, "check_same_thread": False},
    )
    set_pragmas(plain, "PRAGMA wal_autocheckpoint=0")
    return plain


class Checkpoints:
    """Checkpoints a SQLite file's WAL on a thread of its own, every ``every`` commits."""

    def __init__(self, database: str, every: int = 500) -> None:
        self.database = database
        self.every = every
        self._commits = 0
        self._running: asyncio.Future[None] | None = None

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= self.every and (self._running is None or self._running.done()):
            self._commits = 0
            self._running = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))

    async def wait(self) -> None:
        if self._running is not None:
            await self._running

    def _checkpoint(self) -> None:
        # PASSIVE: copy what no reader still needs, never wait for a lock and never block
        # the writers, which go on appending to the WAL meanwhile.
        connection = sqlite3.connect(self.database, timeout=30)
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            connection.close()


BUSY_TIMEOUT_MS = 30_000


def set_pragmas(engine: Engine, *more: str) -> None:
    """WAL, and no fsync per commit: a power cut may lose the last commits, never corrupt."""

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        # The busy timeout first, so that the pragmas below wait for a lock too.
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _while_locked(lambda: cursor.execute("PRAGMA journal_mode=WAL"))
        cursor.execute("PRAGMA synchronous=NORMAL")
        for pragma in more:
            cursor.execute(pragma)
        cursor.close()


def _while_locked(statement: Callable[[], object], pause: float = 0.05) -> None:
    """Run ``statement`` again while the file is locked, for at most the busy timeout.

    A process killed while writing leaves a WAL that the next connection recovers under an
    exclusive lock; SQLite answers "database is locked" at once to anyone asking meanwhile,
    without calling the busy handler, so a process starting beside the recovery waits here. It
    runs when a connection is made (once per process and file), on the caller's thread.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(pause)
