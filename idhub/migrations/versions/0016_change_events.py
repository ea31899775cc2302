"""Signed change events to the apps: subscriptions, what each app was last told, dead letters

Revision ID: 0016_change_events
Revises: 0015_sso_speed
Create Date: 2026-12-05 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_change_events"
down_revision: str | None = "0015_sso_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_subscription",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_event_subscription")),
    )
    op.create_table(
        "event_state",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("projection", sa.JSON(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("dead", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "person_id", name=op.f("pk_event_state")),
    )
    op.create_table(
        "event_dead_letter",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_dead_letter")),
    )
    with op.batch_alter_table("event_dead_letter", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_event_dead_letter_client_id"), ["client_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("event_dead_letter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_dead_letter_client_id"))
    op.drop_table("event_dead_letter")
    op.drop_table("event_state")
    op.drop_table("event_subscription")
