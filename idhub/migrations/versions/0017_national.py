"""National exchange and complete work history: the signing key, exports, partners and
received batches of the national exchange; posts linked to the change set that started or
ended them, and the post history of posts a reorganisation changed in place

Revision ID: 0017_national
Revises: 0016_change_events
Create Date: 2026-12-05 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_national"
down_revision: str | None = "0016_change_events"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "national_export",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_export")),
    )
    op.create_index(
        op.f("ix_national_export_created_at"), "national_export", ["created_at"], unique=False
    )
    op.create_table(
        "national_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("private_key_encrypted", sa.Text(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_national_key")),
    )
    op.create_table(
        "national_partner",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_partner")),
        sa.UniqueConstraint("name", name=op.f("uq_national_partner_name")),
    )
    op.create_table(
        "national_import",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("partner_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["national_partner.id"],
            name=op.f("fk_national_import_partner_id_national_partner"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_national_import")),
        sa.UniqueConstraint("partner_id", "batch_id", name="uq_national_import_batch"),
    )
    op.create_table(
        "post_history",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("change_set_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("unit_name", sa.String(length=255), nullable=False),
        sa.Column("to_unit_id", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignment_id"],
            ["assignment.id"],
            name=op.f("fk_post_history_assignment_id_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["change_set_id"],
            ["change_set.id"],
            name=op.f("fk_post_history_change_set_id_change_set"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_post_history_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_history")),
    )
    op.create_index(
        op.f("ix_post_history_assignment_id"), "post_history", ["assignment_id"], unique=False
    )
    op.create_index(op.f("ix_post_history_person_id"), "post_history", ["person_id"], unique=False)
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("start_change_set_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("end_change_set_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_column("end_change_set_id")
        batch_op.drop_column("start_change_set_id")
    op.drop_index(op.f("ix_post_history_person_id"), table_name="post_history")
    op.drop_index(op.f("ix_post_history_assignment_id"), table_name="post_history")
    op.drop_table("post_history")
    op.drop_table("national_import")
    op.drop_table("national_partner")
    op.drop_table("national_key")
    op.drop_index(op.f("ix_national_export_created_at"), table_name="national_export")
    op.drop_table("national_export")
