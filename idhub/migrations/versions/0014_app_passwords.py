"""App passwords for mail clients (hashes the directory checks; revocable)

Revision ID: 0014_app_passwords
Revises: 0011_backchannel_logout
Create Date: 2026-12-05 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_app_passwords"
down_revision: str | None = "0013_passkeys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_password",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("hashes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("directory_removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sessions_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_app_password_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_password")),
    )
    with op.batch_alter_table("app_password", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_app_password_person_id"), ["person_id"], unique=False)
    with op.batch_alter_table("person_credential", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mail_credentials_pending_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("person_credential", schema=None) as batch_op:
        batch_op.drop_column("mail_credentials_pending_at")
    with op.batch_alter_table("app_password", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_app_password_person_id"))
    op.drop_table("app_password")
