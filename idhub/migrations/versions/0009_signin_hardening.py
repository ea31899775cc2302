"""Sign-in hardening: lockout per account and source, aggregated failure audit, per-client
refresh-token rules

Revision ID: 0009_signin_hardening
Revises: 0008_job_urgency
Create Date: 2026-12-05 11:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_signin_hardening"
down_revision: str | None = "0008_job_urgency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sso_login_lock",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locks", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total_failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_locked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_sso_login_lock_person_id_person")
        ),
        sa.PrimaryKeyConstraint("subject", "source", name=op.f("pk_sso_login_lock")),
    )
    with op.batch_alter_table("sso_login_lock", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sso_login_lock_person_id"), ["person_id"])
    op.create_table(
        "sso_login_failure_tally",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("throttled", sa.Integer(), nullable=False),
        sa.Column("locks", sa.Integer(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
            name=op.f("fk_sso_login_failure_tally_person_id_person"),
        ),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_sso_login_failure_tally")),
    )
    with op.batch_alter_table("sso_login_failure_tally", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_login_failure_tally_window_start"), ["window_start"]
        )
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "refresh_without_offline",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch_op.add_column(sa.Column("refresh_token_ttl_s", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("refresh_token_ttl_s")
        batch_op.drop_column("refresh_without_offline")
    with op.batch_alter_table("sso_login_failure_tally", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_login_failure_tally_window_start"))
    op.drop_table("sso_login_failure_tally")
    with op.batch_alter_table("sso_login_lock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_login_lock_person_id"))
    op.drop_table("sso_login_lock")
