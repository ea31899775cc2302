"""Outbound SCIM: the apps' role groups beside their unit groups

Revision ID: 0027_scim_role_groups
Revises: 0026_sealed_copies
Create Date: 2026-12-05 21:00:00

`scim_group_state` keyed by the group's `externalId` (a unit code, or "role:<app>:<role>"
and "role:<app>:<role>@<unit code>" for the app's roles: longer than a unit code, hence
255) with the group's `kind` ("unit" or "role"). The rows there are unit groups.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0027_scim_role_groups"
down_revision: str | None = "0026_sealed_copies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rename(batch: Any, old: tuple[str, int], new: tuple[str, int]) -> None:
    """The key column's name and width: (name, length) from `old` to `new`."""
    batch.alter_column(
        old[0],
        new_column_name=new[0],
        existing_type=sa.String(length=old[1]),
        type_=sa.String(length=new[1]),
        existing_nullable=False,
    )


def upgrade() -> None:
    with op.batch_alter_table("scim_group_state") as batch:
        _rename(batch, ("unit_code", 32), ("external_id", 255))
        batch.add_column(
            sa.Column("kind", sa.String(length=8), nullable=False, server_default="unit")
        )


def downgrade() -> None:
    # Role groups have no place in the older table: the app keeps them, the hub forgets.
    op.execute("DELETE FROM scim_group_state WHERE kind <> 'unit'")
    with op.batch_alter_table("scim_group_state") as batch:
        batch.drop_column("kind")
        _rename(batch, ("external_id", 255), ("unit_code", 32))
