"""Sealed client-credential access tokens: a deny-list of revoked ones (by jti, kept until
they expire) and, per client, the moment up to which its sealed tokens are refused

Revision ID: 0018_token_denylist
Revises: 0017_national
Create Date: 2026-12-05 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_token_denylist"
down_revision: str | None = "0017_national"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_denylist",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_token_denylist")),
    )
    with op.batch_alter_table("token_denylist", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_token_denylist_expires_at"), ["expires_at"], unique=False
        )
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tokens_revoked_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("tokens_revoked_at")
    with op.batch_alter_table("token_denylist", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_token_denylist_expires_at"))
    op.drop_table("token_denylist")
