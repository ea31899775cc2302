"""Delegated administration: grants of administrative roles over unit subtrees, API
clients limited to a subtree (and their owner), the unit owning a person without a post

Revision ID: 0019_delegated_admin
Revises: 0018_token_denylist
Create Date: 2026-12-05 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import idhub.models.base

revision: str = "0019_delegated_admin"
down_revision: str | None = "0018_token_denylist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "admin_grant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("granted_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", idhub.models.base.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", idhub.models.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "(person_id IS NULL) <> (client_id IS NULL)",
            name=op.f("ck_admin_grant_one_subject"),
        ),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to >= valid_from", name=op.f("ck_admin_grant_valid_range")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_admin_grant_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_admin_grant_client_id_oauth_client"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["org_unit.id"], name=op.f("fk_admin_grant_unit_id_org_unit")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_grant")),
    )
    for column in ("person_id", "client_id", "unit_id"):
        op.create_index(f"ix_admin_grant_{column}", "admin_grant", [column], unique=False)
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("subtree_unit_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("owner_person_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "fk_oauth_client_subtree_unit_id_org_unit", "org_unit", ["subtree_unit_id"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_oauth_client_owner_person_id_person", "person", ["owner_person_id"], ["id"]
        )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_unit_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "fk_person_owner_unit_id_org_unit", "org_unit", ["owner_unit_id"], ["id"]
        )
        batch_op.create_index("ix_person_owner_unit_id", ["owner_unit_id"], unique=False)
    with op.batch_alter_table("change_set", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_unit_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "fk_change_set_owner_unit_id_org_unit", "org_unit", ["owner_unit_id"], ["id"]
        )
        batch_op.create_index("ix_change_set_owner_unit_id", ["owner_unit_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("change_set", schema=None) as batch_op:
        batch_op.drop_index("ix_change_set_owner_unit_id")
        batch_op.drop_constraint("fk_change_set_owner_unit_id_org_unit", type_="foreignkey")
        batch_op.drop_column("owner_unit_id")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index("ix_person_owner_unit_id")
        batch_op.drop_constraint("fk_person_owner_unit_id_org_unit", type_="foreignkey")
        batch_op.drop_column("owner_unit_id")
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_constraint("fk_oauth_client_owner_person_id_person", type_="foreignkey")
        batch_op.drop_constraint("fk_oauth_client_subtree_unit_id_org_unit", type_="foreignkey")
        batch_op.drop_column("owner_person_id")
        batch_op.drop_column("subtree_unit_id")
    for column in ("person_id", "client_id", "unit_id"):
        op.drop_index(f"ix_admin_grant_{column}", table_name="admin_grant")
    op.drop_table("admin_grant")
