"""Retention deletes what is old and finished, and nothing else: never an unsent outbox event,
never a flow that runs, compensates or waits for an operator, never what is recent. On a SQLite
file here; ``tests/integration/test_retention_postgres.py`` runs the same on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Table, func, select

from messaging.metrics import Metrics, RetentionMetrics
from orchestrators.state.database import Database
from orchestrators.state.inbox import inbox_messages
from orchestrators.state.journal import FLOW_END, choreography_flows, choreography_steps
from orchestrators.state.outbox import outbox_messages
from orchestrators.state.retention import Retention, RetentionPolicy
from orchestrators.state.saga import FlowStatus, saga_flows
from orchestrators.state.tables import create_framework_tables

NOW = 1_800_000_000.0
DAY = 24 * 3600.0
OLD, RECENT = NOW - 8 * DAY, NOW - 1 * DAY  # with the default age of 7 days


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'domain.sqlite3'}")
    await create_framework_tables(database)
    yield database
    await database.close()


async def rows(database: Database, table: Table, column: str = "workflow") -> set[str]:
    """What is left: ``column`` of each row."""
    async with database.connect() as connection:
        found = await connection.execute(select(table.c[column]))
        return {str(key) for key in found.scalars()}


async def add(database: Database, table: Table, *values: dict[str, object]) -> None:
    async with database.begin() as connection:
        await connection.execute(table.insert(), list(values))


def inbox(message_id: str, handled_at: float) -> dict[str, object]:
    return {
        "queue": "payments.inbox",
        "message_id": message_id,
        "correlation_id": "c",
        "type": "inventory.stock.reserved",
        "source": "inventory",
        "sent_at": handled_at,
        "received_at": handled_at,
        "handled_at": handled_at,
    }


def outbox(message_id: str, time: float, sent_at: float | None) -> dict[str, object]:
    return {
        "message_id": message_id,
        "correlation_id": "c",
        "type": "payments.payment.captured",
        "source": "payments",
        "schema_version": 1,
        "time": time,
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        "body": "{}",
        "sent_at": sent_at,
    }


def saga(workflow: str, status: FlowStatus, updated_at: float, **more: object) -> dict[str, object]:
    return {
        "workflow": workflow,
        "trigger_id": "t",
        "correlation_id": "c",
        "pattern": "orchestration",
        "status": status.value,
        "next_step": 0,
        "context": "{}",
        "completed_steps": "[]",
        "compensated_steps": "[]",
        "failed_step_uncertain": False,
        "outcome_stored": False,
        "started_at": updated_at,
        "updated_at": updated_at,
        "version": 1,
        "deadline": updated_at + 60,
        **more,
    }


def step(workflow: str, name: str, outcome: str, at: float) -> dict[str, object]:
    return {
        "workflow": workflow,
        "trigger_id": "t",
        "step": name,
        "outcome": outcome,
        "correlation_id": "c",
        "at": at,
    }


def choreography(workflow: str, started_at: float) -> dict[str, object]:
    return {
        "workflow": workflow,
        "trigger_id": "t",
        "correlation_id": "c",
        "context": json.dumps({}),
        "started_at": started_at,
        "deadline": started_at + 60,
        "sweeps": 0,
    }


async def test_handled_inbox_rows_go_once_old(database: Database) -> None:
    await add(database, inbox_messages, inbox("old", OLD), inbox("recent", RECENT))

    deleted = await Retention(database, RetentionPolicy()).prune(now=NOW)

    assert await rows(database, inbox_messages, "message_id") == {"recent"}
    assert deleted["inbox_messages"] == 1


async def test_an_unsent_outbox_event_stays_however_old(database: Database) -> None:
    await add(
        database,
        outbox_messages,
        outbox("sent-long-ago", OLD, sent_at=OLD),
        outbox("never-sent", OLD - DAY, sent_at=None),
        outbox("sent-lately", RECENT, sent_at=RECENT),
    )

    await Retention(database, RetentionPolicy()).prune(now=NOW)

    assert await rows(database, outbox_messages, "message_id") == {"never-sent", "sent-lately"}


async def test_only_ended_sagas_go_never_a_running_or_waiting_flow(database: Database) -> None:
    await add(
        database,
        saga_flows,
        saga("completed-old", FlowStatus.COMPLETED, OLD),
        saga("failed-old", FlowStatus.FAILED, OLD),
        saga("completed-recent", FlowStatus.COMPLETED, RECENT),
        saga("running-old", FlowStatus.RUNNING, OLD),
        saga("compensating-old", FlowStatus.COMPENSATING, OLD),
        saga("awaiting-operator", FlowStatus.COMPENSATING, OLD, operator_reason="stuck"),
    )

    await Retention(database, RetentionPolicy()).prune(now=NOW)

    assert await rows(database, saga_flows) == {
        "completed-recent",
        "running-old",
        "compensating-old",
        "awaiting-operator",
    }


async def test_a_choreographed_flow_goes_whole_once_it_ended_long_ago(database: Database) -> None:
    await add(
        database,
        choreography_flows,
        choreography("ended-old", OLD),
        choreography("ended-recent", RECENT),
        choreography("running-old", OLD),
    )
    await add(
        database,
        choreography_steps,
        step("ended-old", "authorise", "done", OLD),
        step("ended-old", FLOW_END, "completed", OLD),
        step("ended-recent", "authorise", "done", OLD),
        step("ended-recent", FLOW_END, "failed", RECENT),
        step("running-old", "authorise", "done", OLD),
    )

    deleted = await Retention(database, RetentionPolicy()).prune(now=NOW)

    assert await rows(database, choreography_flows) == {"ended-recent", "running-old"}
    assert await rows(database, choreography_steps) == {"ended-recent", "running-old"}
    assert deleted["choreography_steps"] == 2 and deleted["choreography_flows"] == 1


async def test_a_big_backlog_goes_in_batches_and_is_counted(database: Database) -> None:
    await add(database, inbox_messages, *(inbox(f"m{n}", OLD) for n in range(25)))
    metrics = Metrics(CollectorRegistry())
    recorded = RetentionMetrics(metrics, "pay", "orchestration")
    retention = Retention(database, RetentionPolicy(batch=10), recorded)

    assert (await retention.prune(now=NOW))["inbox_messages"] == 25
    assert (await retention.prune(now=NOW))["inbox_messages"] == 0  # idempotent

    async with database.connect() as connection:
        left = (await connection.execute(select(func.count()).select_from(inbox_messages))).one()
    assert left[0] == 0
    counted = metrics.registry.get_sample_value(
        "interplay_retention_rows_deleted_total",
        {"domain": "pay", "pattern": "orchestration", "table": "inbox_messages"},
    )
    assert counted == 25
