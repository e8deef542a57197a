"""A domain's SQLite database: transactions commit or roll back as a block, take turns on the
process's one connection, and never leave a read holding the WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import IntegrityError

from orchestrators.state.database import Database

metadata = MetaData()
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("text", String(100), nullable=False),
)
ADD = insert(notes)
COUNT = select(func.count()).select_from(notes)


class Boom(Exception):
    pass


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/notes.sqlite3")
    await database.create(metadata)
    yield database
    await database.close()


async def count(database: Database) -> int:
    async with database.connect() as connection:
        return int((await connection.execute(COUNT)).scalar_one())


async def test_a_transaction_commits_when_its_block_ends(database: Database) -> None:
    async with database.begin() as transaction:
        await transaction.execute(ADD, {"id": 1, "text": "one"})
        await transaction.execute(ADD, {"id": 2, "text": "two"})
    assert await count(database) == 2


async def test_a_transaction_that_raises_leaves_nothing_and_the_next_one_works(
    database: Database,
) -> None:
    async def add_then_fail() -> None:
        async with database.begin() as transaction:
            await transaction.execute(ADD, {"id": 1, "text": "one"})
            raise Boom

    with pytest.raises(Boom):
        await add_then_fail()
    async with database.begin() as transaction:
        await transaction.execute(ADD, {"id": 2, "text": "two"})
    assert await count(database) == 1


async def test_a_conflict_raises_sqlalchemys_error_and_rolls_back_its_block(
    database: Database,
) -> None:
    async with database.begin() as transaction:
        await transaction.execute(ADD, {"id": 1, "text": "one"})

    async def add_two_then_repeat_one() -> None:
        async with database.begin() as transaction:
            await transaction.execute(ADD, {"id": 2, "text": "two"})
            await transaction.execute(ADD, {"id": 1, "text": "again"})

    with pytest.raises(IntegrityError):
        await add_two_then_repeat_one()
    assert await count(database) == 1


async def test_what_a_read_block_writes_is_rolled_back(database: Database) -> None:
    async with database.connect() as connection:
        await connection.execute(ADD, {"id": 1, "text": "one"})
    assert await count(database) == 0


async def test_transactions_take_turns_on_the_one_connection(database: Database) -> None:
    seen: list[str] = []

    async def add(number: int) -> None:
        async with database.begin() as transaction:
            seen.append(f"begin {number}")
            await transaction.execute(ADD, {"id": number, "text": str(number)})
            await asyncio.sleep(0.01)  # another task runs meanwhile, but not on this connection
            seen.append(f"end {number}")

    await asyncio.gather(add(1), add(2))
    assert seen == ["begin 1", "end 1", "begin 2", "end 2"]
    assert await count(database) == 2


async def test_no_read_holds_the_wal_so_a_checkpoint_copies_all_of_it(
    database: Database, tmp_path: Path
) -> None:
    async with database.begin() as transaction:
        await transaction.execute(ADD, {"id": 1, "text": "one"})
    assert await count(database) == 1
    other = sqlite3.connect(tmp_path / "notes.sqlite3")
    try:
        busy, frames, copied = other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        other.close()
    assert busy == 0 and frames > 0 and copied == frames
