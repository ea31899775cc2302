"""Back-channel logouts still to deliver (through the outbox, retried until the app answers)

Revision ID: 0011_backchannel_logout
Revises: 0010_access_reset
Create Date: 2026-12-05 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_backchannel_logout"
down_revision: str | None = "0010_access_reset"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backchannel_logout",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backchannel_logout")),
        sa.UniqueConstraint(
            "session_id", "client_id", name=op.f("uq_backchannel_logout_session_id")
        ),
    )
    with op.batch_alter_table("backchannel_logout", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_backchannel_logout_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("backchannel_logout", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_backchannel_logout_session_id"))
    op.drop_table("backchannel_logout")
