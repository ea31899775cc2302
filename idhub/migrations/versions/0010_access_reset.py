"""Access resets: who issued a link, whether it re-enrols the second factor, wrong codes
on it; a person's password waiting to reach the directory

Revision ID: 0010_access_reset
Revises: 0009_signin_hardening
Create Date: 2026-12-05 11:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_access_reset"
down_revision: str | None = "0009_signin_hardening"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person_action_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issued_by", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column(
                "reset_second_factor", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column("failed_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index("ix_person_action_token_issued_by", ["issued_by"], unique=False)
    with op.batch_alter_table("person_credential", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("directory_password_pending_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("person_credential", schema=None) as batch_op:
        batch_op.drop_column("directory_password_pending_at")
    with op.batch_alter_table("person_action_token", schema=None) as batch_op:
        batch_op.drop_index("ix_person_action_token_issued_by")
        batch_op.drop_column("failed_attempts")
        batch_op.drop_column("reset_second_factor")
        batch_op.drop_column("issued_by")
