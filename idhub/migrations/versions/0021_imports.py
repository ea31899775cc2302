"""Spreadsheet imports waiting for confirmation (import_upload)

Revision ID: 0021_imports
Revises: 0020_national_push
Create Date: 2026-12-05 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import idhub.models.base

revision: str = "0021_imports"
down_revision: str | None = "0020_national_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_upload",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.JSON(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("people", sa.JSON(), nullable=True),
        sa.Column("created_at", idhub.models.base.UTCDateTime(), nullable=False),
        sa.Column("expires_at", idhub.models.base.UTCDateTime(), nullable=False),
        sa.Column("applied_at", idhub.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_upload")),
    )
    op.create_index("ix_import_upload_person_id", "import_upload", ["person_id"], unique=False)
    op.create_index("ix_import_upload_expires_at", "import_upload", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_import_upload_expires_at", table_name="import_upload")
    op.drop_index("ix_import_upload_person_id", table_name="import_upload")
    op.drop_table("import_upload")
