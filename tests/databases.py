"""Where a test's domains keep their state: SQLite files in its folder, or PostgreSQL databases
of its own, one per domain, created for the test and dropped after it.

PostgreSQL is reached through ``INTERPLAY_TEST_POSTGRES_URL`` (an administrator's URL; by
default the local server, user postgres). When it is not reachable, a test on it is skipped on
a laptop and fails in CI (``CI=true``): CI must prove both backends.

The administration runs on a thread of its own (asyncpg on a loop of its own), so that the same
helpers serve sync code (processes, audits) and async tests whose loop is running.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from domains.registry import DOMAINS

ADMIN_URL = os.environ.get(
    "INTERPLAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")
T = TypeVar("T")


def sqlite_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir}/{{domain}}.sqlite3"


@contextmanager
def fresh_databases(
    backend: str, data_dir: Path, domains: Sequence[str] = tuple(DOMAINS)
) -> Iterator[str]:
    """The ``INTERPLAY_DATABASE_URL`` (``{domain}`` in it) of ``domains`` on ``backend``: files
    under ``data_dir``, or PostgreSQL databases created now and dropped at the end."""
    if backend == "sqlite":
        yield sqlite_url(data_dir)
        return
    prefix = f"interplay_t_{uuid.uuid4().hex[:10]}"
    names = [f"{prefix}_{domain}" for domain in domains]
    try:
        _on_admin(lambda admin: _each(admin, 'CREATE DATABASE "{}"', names))
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {ADMIN_URL} is needed in CI: {error}")
        pytest.skip(f"no PostgreSQL at {ADMIN_URL}: {error}")
    try:
        base = ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://", 1).rsplit("/", 1)[0]
        yield f"{base}/{prefix}_{{domain}}"
    finally:
        _on_admin(lambda admin: _each(admin, 'DROP DATABASE IF EXISTS "{}" WITH (FORCE)', names))


def query(database_url: str, domain: str, sql: str) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` in ``domain``'s database, read as an auditor would: plain SQL."""
    url = database_url.replace("{domain}", domain)
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.split(":///", 1)[1]) as connection:
            return connection.execute(sql).fetchall()
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)

    async def fetch() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(dsn)
        try:
            return [tuple(row) for row in await connection.fetch(sql)]
        finally:
            await connection.close()

    return _in_thread(fetch)


async def _each(admin: asyncpg.Connection, statement: str, names: Sequence[str]) -> None:
    for name in names:
        await admin.execute(statement.format(name))


def _on_admin(work: Callable[[asyncpg.Connection], Awaitable[None]]) -> None:
    async def run() -> None:
        admin = await asyncpg.connect(ADMIN_URL, timeout=5)
        try:
            await work(admin)
        finally:
            await admin.close()

    _in_thread(run)


def _in_thread(coroutine: Callable[[], Awaitable[T]]) -> T:
    """Run ``coroutine`` to its end on a loop of its own, on another thread."""

    async def main() -> T:
        return await coroutine()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()
