"""Sealed copies of personal data: replayable responses (Idempotency-Key) and the signed
national exports, which hold CCCDs and dates of birth, are sealed at rest like the person

Revision ID: 0026_sealed_copies
Revises: 0025_scim_push
Create Date: 2026-12-05 20:40:00

Both columns stay TEXT; the rows already there are sealed (AES-256-GCM, the column's name
as associated data) with the keys the hub gives the engine, as 0023 did for people. The
downgrade opens them again. Audit events written before this stay as they were: the
chain's seals cover them and cannot be rewritten (docs/personal-data.md).
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from idhub.models.sealed import PersonalKeys, keys_of

revision: str = "0026_sealed_copies"
down_revision: str | None = "0025_scim_push"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PAGE = 500
# table → (the type of its `id`, the column sealed)
COLUMNS: dict[str, tuple[Any, str]] = {
    "idempotency_record": (sa.Integer(), "response_body"),
    "national_export": (sa.Uuid(), "document"),
}


def _keys(table: str) -> PersonalKeys | None:
    """The engine's keys when this table has rows to seal or open, else None."""
    bind = op.get_bind()
    if bind.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is None:
        return None
    try:
        return keys_of(bind.dialect)
    except RuntimeError as exc:
        raise RuntimeError(
            f"{table} has rows: they are sealed (or opened) by this migration, which needs "
            "the hub's keys. Migrate with `idhub db upgrade` (or downgrade), which gives them."
        ) from exc


def _rewrite(change: Callable[[PersonalKeys, str, str], str]) -> None:
    """Rewrite each table's column a page at a time (keyset on the key column)."""
    bind = op.get_bind()
    for name, (id_type, column) in COLUMNS.items():
        keys = _keys(name)
        if keys is None:
            continue
        table = sa.table(name, sa.column("id", id_type), sa.column(column, sa.Text()))
        where = f"{name}.{column}"
        last = None
        while True:
            query = sa.select(table).order_by(table.c.id).limit(PAGE)
            if last is not None:
                query = query.where(table.c.id > last)
            rows = bind.execute(query).all()
            if not rows:
                break
            bind.execute(
                sa.update(table).where(table.c.id == sa.bindparam("row_id")),
                [{"row_id": row[0], column: change(keys, row[1], where)} for row in rows],
            )
            last = rows[-1][0]


def upgrade() -> None:
    _rewrite(lambda keys, value, where: keys.seal(value, where))


def downgrade() -> None:
    _rewrite(lambda keys, value, where: keys.open(value, where))
