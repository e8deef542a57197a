"""Migrations and retention on PostgreSQL as on SQLite (``tests/unit/test_migrations.py`` and
``tests/unit/test_retention.py``): each domain's database of the registry, fresh per test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from domains.registry import DOMAINS
from orchestrators.domain import Domain
from orchestrators.state import schema
from orchestrators.state.database import Database
from orchestrators.state.inbox import inbox_messages
from orchestrators.state.journal import FLOW_END, choreography_flows, choreography_steps
from orchestrators.state.outbox import outbox_messages
from orchestrators.state.retention import Retention, RetentionPolicy
from orchestrators.state.saga import FlowStatus, saga_flows
from tests.databases import fresh_databases
from tests.unit.test_migrations import declared, diff
from tests.unit.test_retention import (
    NOW,
    OLD,
    RECENT,
    add,
    choreography,
    inbox,
    outbox,
    rows,
    saga,
    step,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def postgres_url(tmp_path: Path) -> Iterator[str]:
    with fresh_databases("postgresql", tmp_path) as url:
        yield url


@pytest.fixture
async def payments(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url.replace("{domain}", "payments"))
    await schema.upgrade(database, schema.Migrations(DOMAINS["payments"].migrations))
    yield database
    await database.close()


@pytest.mark.parametrize("domain", DOMAINS.values(), ids=list(DOMAINS))
async def test_the_migrations_make_the_declared_tables_and_undo_them(
    domain: Domain, postgres_url: str
) -> None:
    database = Database(postgres_url.replace("{domain}", domain.name))
    migrations = schema.Migrations(domain.migrations)

    await schema.upgrade(database, migrations)
    assert await diff(database, declared(domain)) == []
    await schema.downgrade(database, migrations, "base")
    await schema.upgrade(database, migrations)

    assert await diff(database, declared(domain)) == []
    assert await schema.current(database) == migrations.heads()
    await database.close()


async def test_replicas_starting_together_migrate_once(postgres_url: str) -> None:
    url = postgres_url.replace("{domain}", "orders")
    replicas = [Database(url) for _ in range(4)]
    migrations = schema.Migrations(DOMAINS["orders"].migrations)

    await asyncio.gather(*(schema.upgrade(replica, migrations) for replica in replicas))

    assert await schema.current(replicas[0]) == migrations.heads()
    for replica in replicas:
        await replica.close()


async def test_retention_deletes_only_what_is_old_and_finished(payments: Database) -> None:
    await add(payments, inbox_messages, inbox("old", OLD), inbox("recent", RECENT))
    await add(
        payments,
        outbox_messages,
        outbox("sent-long-ago", OLD, OLD),
        outbox("never-sent", OLD, None),
    )
    await add(
        payments,
        saga_flows,
        saga("completed-old", FlowStatus.COMPLETED, OLD),
        saga("running-old", FlowStatus.RUNNING, OLD),
        saga("awaiting-operator", FlowStatus.COMPENSATING, OLD, operator_reason="stuck"),
    )
    await add(payments, choreography_flows, choreography("ended", OLD), choreography("on", OLD))
    await add(
        payments,
        choreography_steps,
        step("ended", "authorise", "done", OLD),
        step("ended", FLOW_END, "completed", OLD),
        step("on", "authorise", "done", OLD),
    )
    retention = Retention(payments, RetentionPolicy(batch=1))

    await asyncio.gather(retention.prune(now=NOW), retention.prune(now=NOW))  # two replicas

    assert await rows(payments, inbox_messages, "message_id") == {"recent"}
    assert await rows(payments, outbox_messages, "message_id") == {"never-sent"}
    assert await rows(payments, saga_flows) == {"running-old", "awaiting-operator"}
    assert await rows(payments, choreography_flows) == {"on"}
    assert await rows(payments, choreography_steps) == {"on"}
