"""Roles per app (oauth_client.app_key, hub_roles) and delegation of app rights

Revision ID: 0024_app_roles
Revises: 0023_personal_data
Create Date: 2026-12-05 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_app_roles"
down_revision: str | None = "0023_personal_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("oauth_client") as batch:
        batch.add_column(sa.Column("app_key", sa.String(length=64), nullable=True))
        # Existing clients keep the roles and groups claims they had.
        batch.add_column(
            sa.Column("hub_roles", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.create_index(batch.f("ix_oauth_client_app_key"), ["app_key"])
    op.create_table(
        "app_delegation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("delegator_id", sa.Uuid(), nullable=False),
        sa.Column("deputy_id", sa.Uuid(), nullable=False),
        sa.Column("app", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delegator_id"], ["person.id"], name=op.f("fk_app_delegation_delegator_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["deputy_id"], ["person.id"], name=op.f("fk_app_delegation_deputy_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["person.id"], name=op.f("fk_app_delegation_created_by_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_delegation")),
    )
    op.create_index(op.f("ix_app_delegation_delegator_id"), "app_delegation", ["delegator_id"])
    op.create_index(op.f("ix_app_delegation_deputy_id"), "app_delegation", ["deputy_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_app_delegation_deputy_id"), table_name="app_delegation")
    op.drop_index(op.f("ix_app_delegation_delegator_id"), table_name="app_delegation")
    op.drop_table("app_delegation")
    with op.batch_alter_table("oauth_client") as batch:
        batch.drop_index(batch.f("ix_oauth_client_app_key"))
        batch.drop_column("hub_roles")
        batch.drop_column("app_key")
