"""Mail: the addresses the hub gave each person (old ones stay aliases for a while) and
mailbox delegations (ủy quyền).

Revision ID: 0004_mail
Revises: 0003_sso
Create Date: 2026-12-02 00:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_mail"
down_revision: str | None = "0003_sso"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_address",
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("first_used_on", sa.Date(), nullable=False),
        sa.Column("superseded_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_mail_address_person_id_person")
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_mail_address")),
    )
    op.create_index(op.f("ix_mail_address_person_id"), "mail_address", ["person_id"], unique=False)
    op.create_table(
        "mail_delegation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("deputy_id", sa.Uuid(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deputy_id"], ["person.id"], name=op.f("fk_mail_delegation_deputy_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["person.id"], name=op.f("fk_mail_delegation_owner_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_delegation")),
    )
    op.create_index(
        op.f("ix_mail_delegation_deputy_id"), "mail_delegation", ["deputy_id"], unique=False
    )
    op.create_index(
        op.f("ix_mail_delegation_owner_id"), "mail_delegation", ["owner_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_mail_delegation_owner_id"), table_name="mail_delegation")
    op.drop_index(op.f("ix_mail_delegation_deputy_id"), table_name="mail_delegation")
    op.drop_table("mail_delegation")
    op.drop_index(op.f("ix_mail_address_person_id"), table_name="mail_address")
    op.drop_table("mail_address")
