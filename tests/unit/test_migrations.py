"""Every domain database's schema comes from migrations, and they make exactly the tables the
code declares: for each domain of the registry (a scaffolded one too), the framework's tables
and the domain's own, on a SQLite file. ``tests/integration/test_migrations_postgres.py`` runs
the same on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Column, Connection, MetaData, String, Table, inspect

from domains.registry import DOMAINS
from interplay.bootstrap import prepare_schema
from interplay.settings import Settings
from orchestrators.domain import Domain
from orchestrators.state import inbox, journal, outbox, saga, schema
from orchestrators.state.database import Database
from orchestrators.state.tables import create_framework_tables

FRAMEWORK_TABLES = (saga.metadata, journal.metadata, inbox.metadata, outbox.metadata)
BY_NAME = pytest.mark.parametrize("domain", DOMAINS.values(), ids=list(DOMAINS))


def declared(domain: Domain) -> list[MetaData]:
    """Every table the code declares in the domain's database."""
    return [*FRAMEWORK_TABLES, import_module(f"domains.{domain.name}.repository").metadata]


def differences(connection: Connection, metadatas: list[MetaData]) -> list[Any]:
    merged = MetaData()
    for metadata in metadatas:
        for table in metadata.tables.values():
            table.to_metadata(merged)
    return list(compare_metadata(MigrationContext.configure(connection), merged))


async def diff(database: Database, metadata: list[MetaData]) -> list[Any]:
    async with database.engine.connect() as connection:
        return await connection.run_sync(differences, metadata)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'domain.sqlite3'}")
    yield database
    await database.close()


@BY_NAME
async def test_the_migrations_make_exactly_the_declared_tables(
    domain: Domain, database: Database
) -> None:
    migrations = schema.Migrations(domain.migrations)

    await schema.upgrade(database, migrations)

    assert await diff(database, declared(domain)) == []
    heads = migrations.heads()
    assert await schema.current(database) == heads
    assert sorted(head.split("_")[0] for head in heads) == sorted(["framework", domain.name])


@BY_NAME
async def test_every_revision_can_be_undone_and_made_again(
    domain: Domain, database: Database
) -> None:
    migrations = schema.Migrations(domain.migrations)
    await schema.upgrade(database, migrations)

    await schema.downgrade(database, migrations, "base")
    async with database.engine.connect() as connection:
        left = await connection.run_sync(lambda c: inspect(c).get_table_names())
    await schema.upgrade(database, migrations)

    assert left == ["alembic_version"]
    assert await diff(database, declared(domain)) == []


async def test_a_database_made_before_migrations_is_adopted(database: Database) -> None:
    domain = DOMAINS["payments"]
    await database.create(*declared(domain))  # as interplay 0.1 made it, with create_all

    await schema.upgrade(database, schema.Migrations(domain.migrations))

    assert await diff(database, declared(domain)) == []


async def test_replicas_starting_together_migrate_once(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'domain.sqlite3'}"
    replicas = [Database(url) for _ in range(4)]
    migrations = schema.Migrations(DOMAINS["orders"].migrations)

    await asyncio.gather(*(schema.upgrade(replica, migrations) for replica in replicas))

    assert await schema.current(replicas[0]) == migrations.heads()
    for replica in replicas:
        await replica.close()


async def test_a_process_told_not_to_migrate_refuses_an_old_schema_with_the_fix(
    database: Database,
) -> None:
    settings = Settings(migrate_on_start=False)
    await create_framework_tables(database)  # the framework's tables, not the domain's

    with pytest.raises(schema.SchemaOutOfDate, match="interplay db upgrade --domain payments"):
        await prepare_schema(database, "payments", settings)

    await prepare_schema(database, "payments", Settings())  # migrates
    await prepare_schema(database, "payments", settings)  # and now starts


async def test_a_new_revision_is_written_for_what_the_tables_gained(tmp_path: Path) -> None:
    domain = DOMAINS["payments"]
    folder = tmp_path / "migrations"
    folder.mkdir()
    for revision in domain.migrations.glob("payments_*.py"):
        (folder / revision.name).write_text(revision.read_text())
    grown = MetaData()
    for table in declared(domain)[-1].tables.values():
        table.to_metadata(grown)
    Table("refunds", grown, Column("order_id", String(64), primary_key=True))

    written = await schema.new_revision(
        schema.Migrations(folder), [*FRAMEWORK_TABLES, grown], "payments", "refunds"
    )

    assert written is not None and written.revision == "payments_0002"
    text = await asyncio.to_thread(Path(written.path).read_text)
    assert "create_table('refunds'" in text.replace('"', "'")
