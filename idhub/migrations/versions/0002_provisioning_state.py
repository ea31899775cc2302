"""Provisioning state: person usernames, reserved identifiers, account links, job outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:10:37.445356
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hub_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_hub_state")),
    )
    op.create_table(
        "provisioning_job",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "running",
                "failed",
                "held",
                name="job_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("coalesced", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioning_job")),
    )
    with op.batch_alter_table("provisioning_job", schema=None) as batch_op:
        batch_op.create_index("ix_provisioning_job_claim", ["state", "next_try_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_provisioning_job_subject_id"), ["subject_id"], unique=False
        )
        batch_op.create_index(
            "uq_provisioning_job_pending",
            ["subject_id", "target"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )

    op.create_table(
        "account_link",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "in_sync",
                "failed",
                "absent",
                name="link_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_converged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_account_link_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_link")),
        sa.UniqueConstraint("person_id", "target", name="uq_account_link_person_target"),
    )
    op.create_table(
        "reserved_identifier",
        sa.Column("identifier", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_reserved_identifier_person_id_person")
        ),
        sa.PrimaryKeyConstraint("identifier", name=op.f("pk_reserved_identifier")),
    )
    with op.batch_alter_table("reserved_identifier", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reserved_identifier_person_id"), ["person_id"], unique=False
        )

    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("username", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_person_username"), ["username"])


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_person_username"), type_="unique")
        batch_op.drop_column("username")

    with op.batch_alter_table("reserved_identifier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reserved_identifier_person_id"))

    op.drop_table("reserved_identifier")
    op.drop_table("account_link")
    with op.batch_alter_table("provisioning_job", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_provisioning_job_pending",
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_provisioning_job_subject_id"))
        batch_op.drop_index("ix_provisioning_job_claim")

    op.drop_table("provisioning_job")
    op.drop_table("hub_state")
