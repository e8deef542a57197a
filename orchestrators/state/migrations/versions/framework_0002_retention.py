"""Indexes for the retention job: it finds what ended before a cut-off without a scan.

``if_not_exists``: what reads a database before its domain ever ran creates the tables as the
code declares them (``interplay trace``), these indexes included.

Revision ID: framework_0002
Revises: framework_0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "framework_0002"
down_revision: str | Sequence[str] | None = "framework_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_inbox_messages_handled_at": ("inbox_messages", ["handled_at"]),
    "ix_saga_flows_ended": ("saga_flows", ["status", "updated_at"]),
    "ix_choreography_steps_ended": ("choreography_steps", ["step", "at"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns, if_not_exists=True)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
