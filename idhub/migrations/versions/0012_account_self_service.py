"""A lost-phone reset's hand-over code (keyed hash); an app's home page (client_uri)

Revision ID: 0012_account_self_service
Revises: 0011_backchannel_logout
Create Date: 2026-12-05 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_account_self_service"
down_revision: str | None = "0011_backchannel_logout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person_action_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("handover_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client_uri", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("client_uri")
    with op.batch_alter_table("person_action_token", schema=None) as batch_op:
        batch_op.drop_column("handover_hash")
