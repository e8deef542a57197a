"""The framework's tables: saga flows, the choreography journal, the inbox and the outbox.

The schema interplay 0.1 made with ``create_all``; ``if_not_exists`` lets this first revision
adopt a database made that way (its tables are kept, the revision is recorded).

Revision ID: framework_0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "framework_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("framework",)
depends_on: str | Sequence[str] | None = None

KEY = sa.String(length=100)


def upgrade() -> None:
    op.create_table(
        "saga_flows",
        sa.Column("workflow", KEY, nullable=False),
        sa.Column("trigger_id", KEY, nullable=False),
        sa.Column("correlation_id", KEY, nullable=False),
        sa.Column("pattern", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("completed_steps", sa.Text(), nullable=False),
        sa.Column("compensated_steps", sa.Text(), nullable=False),
        sa.Column("failed_step", KEY, nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("failed_step_uncertain", sa.Boolean(), nullable=False),
        sa.Column("outcome_stored", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.Column("claimed_by", KEY, nullable=True),
        sa.Column("claimed_until", sa.Float(), nullable=True),
        sa.Column("operator_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("workflow", "trigger_id"),
        if_not_exists=True,
    )
    _index("saga_flows", "correlation_id")
    _index("saga_flows", "deadline")
    op.create_table(
        "choreography_flows",
        sa.Column("workflow", KEY, nullable=False),
        sa.Column("trigger_id", KEY, nullable=False),
        sa.Column("correlation_id", KEY, nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("deadline", sa.Float(), nullable=False),
        sa.Column("sweeps", sa.Integer(), nullable=False),
        sa.Column("claimed_by", KEY, nullable=True),
        sa.Column("claimed_until", sa.Float(), nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("operator_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("workflow", "trigger_id"),
        if_not_exists=True,
    )
    _index("choreography_flows", "correlation_id")
    _index("choreography_flows", "deadline")
    op.create_table(
        "choreography_steps",
        sa.Column("workflow", KEY, nullable=False),
        sa.Column("trigger_id", KEY, nullable=False),
        sa.Column("step", KEY, nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("correlation_id", KEY, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("workflow", "trigger_id", "step", "outcome"),
        if_not_exists=True,
    )
    _index("choreography_steps", "correlation_id")
    op.create_table(
        "inbox_messages",
        sa.Column("queue", sa.String(length=200), nullable=False),
        sa.Column("message_id", KEY, nullable=False),
        sa.Column("correlation_id", KEY, nullable=False),
        sa.Column("causation_id", KEY, nullable=True),
        sa.Column("type", sa.String(length=200), nullable=False),
        sa.Column("source", KEY, nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("handled_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("queue", "message_id"),
        if_not_exists=True,
    )
    _index("inbox_messages", "correlation_id")
    op.create_table(
        "outbox_messages",
        sa.Column("message_id", KEY, nullable=False),
        sa.Column("correlation_id", KEY, nullable=False),
        sa.Column("causation_id", KEY, nullable=True),
        sa.Column("type", sa.String(length=200), nullable=False),
        sa.Column("source", KEY, nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("time", sa.Float(), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=False),
        sa.Column("flow_started", sa.String(length=40), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("message_id"),
        if_not_exists=True,
    )
    _index("outbox_messages", "sent_at")


def downgrade() -> None:
    for table in (
        "outbox_messages",
        "inbox_messages",
        "choreography_steps",
        "choreography_flows",
        "saga_flows",
    ):
        op.drop_table(table)  # its indexes go with it


def _index(table: str, column: str) -> None:
    op.create_index(f"ix_{table}_{column}", table, [column], if_not_exists=True)
