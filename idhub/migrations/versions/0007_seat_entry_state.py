"""Seats: what the directory did to a seat's entry that its mailbox step has not reported

Revision ID: 0007_seat_entry_state
Revises: 0006_seats
Create Date: 2026-12-05 10:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_seat_entry_state"
down_revision: str | None = "0006_seats"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing seats start with nothing unreported (version 0 = reported 0): a seat job
    # still waiting on the mail target is sent to the directory target first.
    with op.batch_alter_table("seat", schema=None) as batch_op:
        batch_op.add_column(sa.Column("entry_ops", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(
            sa.Column("entry_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("entry_reported", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("seat", schema=None) as batch_op:
        batch_op.drop_column("entry_reported")
        batch_op.drop_column("entry_version")
        batch_op.drop_column("entry_ops")
