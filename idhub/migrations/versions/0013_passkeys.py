"""Passkeys (WebAuthn) of people and the one-time challenges of their ceremonies

Revision ID: 0013_passkeys
Revises: 0011_backchannel_logout
Create Date: 2026-12-05 14:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_passkeys"
down_revision: str | None = "0012_account_self_service"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "person_passkey",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.Integer(), nullable=False),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("aaguid", sa.String(length=36), nullable=True),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backed_up", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_person_passkey_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_passkey")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_person_passkey_credential_id")),
    )
    with op.batch_alter_table("person_passkey", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_person_passkey_person_id"), ["person_id"], unique=False
        )
    op.create_table(
        "sso_passkey_challenge",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=True),
        sa.Column("challenge", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_sso_passkey_challenge_person_id_person")
        ),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_sso_passkey_challenge")),
    )
    with op.batch_alter_table("sso_passkey_challenge", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sso_passkey_challenge_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sso_passkey_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sso_passkey_challenge_expires_at"))
    op.drop_table("sso_passkey_challenge")
    with op.batch_alter_table("person_passkey", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_passkey_person_id"))
    op.drop_table("person_passkey")
