"""A choreographed step is decided once and a flow ends once: two partial unique indexes on
``choreography_steps``, and the column that keeps a decision's context.

Two deliveries of one step's event handled at the same time (a consumer's connection lost
mid-step) could record the step done and failed, and end the flow completed and failed, each
under its own key (the outcome is part of it); these indexes let the first of each in
(``orchestrators.state.journal``). A database holding such a pair already fails this upgrade:
find the steps with ``SELECT workflow, trigger_id, step FROM choreography_steps WHERE outcome IN
('done', 'failed') GROUP BY 1, 2, 3 HAVING COUNT(*) > 1`` and the flows ended both ways with
``SELECT workflow, trigger_id FROM choreography_steps WHERE step = '*' GROUP BY 1, 2 HAVING
COUNT(*) > 1``, and settle those flows by hand. Upgrade the database before replacing the
replicas: a replica of the code before it would still compensate a step another decided done.

Revision ID: framework_0003
Revises: framework_0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "framework_0003"
down_revision: str | Sequence[str] | None = "framework_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DECIDED = sa.text("outcome IN ('done', 'failed')")
ENDS = sa.text("step = '*'")
INDEXES = {
    "uq_choreography_steps_decided": (["workflow", "trigger_id", "step"], DECIDED),
    "uq_choreography_steps_end": (["workflow", "trigger_id"], ENDS),
}


def upgrade() -> None:
    # A database whose tables the code made (framework_0001 adopts it) has the column already.
    existing = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("choreography_steps")}
    if "decided" not in existing:
        op.add_column("choreography_steps", sa.Column("decided", sa.Text()))
    for name, (columns, where) in INDEXES.items():
        op.create_index(
            name,
            "choreography_steps",
            columns,
            unique=True,
            sqlite_where=where,
            postgresql_where=where,
            if_not_exists=True,
        )


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="choreography_steps")
    with op.batch_alter_table("choreography_steps") as batch:
        batch.drop_column("decided")
