"""National exports pushed to the province's data-integration platform: when, and the
platform's last refusal

Revision ID: 0020_national_push
Revises: 0019_delegated_admin
Create Date: 2026-12-05 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import idhub.models.base

revision: str = "0020_national_push"
down_revision: str | None = "0019_delegated_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("national_export") as batch:
        batch.add_column(sa.Column("pushed_at", idhub.models.base.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("push_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("national_export") as batch:
        batch.drop_column("push_error")
        batch.drop_column("pushed_at")
