"""Jobs: an urgency, so cutting access overtakes bulk work on every target

Revision ID: 0008_job_urgency
Revises: 0007_seat_entry_state
Create Date: 2026-12-05 11:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_job_urgency"
down_revision: str | None = "0007_seat_entry_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_URGENT_PENDING = "state = 'pending' AND urgency > 0"


def upgrade() -> None:
    # Jobs already queued are bulk: nothing tells which of them cut access.
    with op.batch_alter_table("provisioning_job", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("urgency", sa.SmallInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.create_index(
            "ix_provisioning_job_urgent",
            ["target", "next_try_at"],
            unique=False,
            sqlite_where=sa.text(_URGENT_PENDING),
            postgresql_where=sa.text(_URGENT_PENDING),
        )


def downgrade() -> None:
    with op.batch_alter_table("provisioning_job", schema=None) as batch_op:
        batch_op.drop_index("ix_provisioning_job_urgent")
        batch_op.drop_column("urgency")
